import django.db.models.deletion
from django.db import migrations, models

# Django's own name for the config FK's index (the same on PostgreSQL and SQLite).
INDEX = "pushconfig_pushrecord_config_id_ae2f91c4"


class Migration(migrations.Migration):
    """The push record's config index goes: three composite indexes start with config and
    serve its lookups, and every ingested event paid for a fourth. Only the index is dropped
    (AlterField would also drop and re-validate the foreign key, scanning the whole log)."""

    dependencies = [
        ('pushconfig', '0009_open_queue_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='pushrecord',
                    name='config',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='records', to='pushconfig.pushconfig', verbose_name='push config'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    f"CREATE INDEX IF NOT EXISTS {INDEX} ON pushconfig_pushrecord (config_id)",
                ),
            ],
        ),
    ]
