"""API tokens kept as a digest (ApiToken), and the tokens of DRF's authtoken app moved over.

DRF's table holds every key in plain text. Its rows are copied (the digest of each key, so the
clients that hold them keep working) and then the copied rows deleted; the table itself is
left to whoever drops it. Read with raw SQL: the authtoken app is no longer installed. Going back
removes the ApiToken table and cannot give the plain keys back.
"""
import datetime as dt
import hashlib

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.utils.dateparse import parse_datetime

LEGACY_TABLE = "authtoken_token"


def aware(value):
    # SQLite hands the column back as a naive UTC datetime (or text), PostgreSQL as aware.
    if isinstance(value, str):
        value = parse_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def copy_authtoken_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("integration", "ApiToken")
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {qn('key')}, {qn('user_id')}, {qn('created')} "
                       f"FROM {qn(LEGACY_TABLE)}")
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        if ApiToken.objects.filter(digest=digest).exists():
            continue
        ApiToken.objects.create(user_id=user_id, name="migrated", prefix=key[:8],
                                digest=digest, created_at=aware(created))
    # The keys copied, not the table: a token an old process adds meanwhile is not lost.
    with connection.cursor() as cursor:
        cursor.executemany(f"DELETE FROM {qn(LEGACY_TABLE)} WHERE {qn('key')} = %s",
                           [(key,) for key, _user, _created in rows])


class Migration(migrations.Migration):

    dependencies = [
        ('integration', '0008_flagged_events_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(help_text='What the token is for, e.g. the system that uses it.', max_length=100, verbose_name='name')),
                ('prefix', models.CharField(editable=False, max_length=8, verbose_name='prefix')),
                ('digest', models.CharField(editable=False, max_length=64, unique=True, verbose_name='digest')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at')),
                ('last_used_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='last used at')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'API token',
                'verbose_name_plural': 'API tokens',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.RunPython(copy_authtoken_tokens, migrations.RunPython.noop),
    ]
