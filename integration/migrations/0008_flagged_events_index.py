"""inbound_flagged: flagged events only (see InboundEvent.Meta)."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('integration', '0007_requests_and_todos_no_like_indexes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='inboundevent',
            name='flagged',
            field=models.BooleanField(default=False, verbose_name='flagged'),
        ),
        migrations.AddIndex(
            model_name='inboundevent',
            index=models.Index(condition=models.Q(('flagged', True)), fields=['id'], name='inbound_flagged'),
        ),
    ]
