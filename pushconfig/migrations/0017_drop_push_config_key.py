"""push_config_key goes: its last reader, the earlier-open check, reads push_open_request;
lookups by request read push_request_id. One index entry less at every insert and try."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('pushconfig', '0016_task_records_index'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='pushrecord',
            name='push_config_key',
        ),
    ]
