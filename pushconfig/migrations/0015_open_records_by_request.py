"""push_open_request: a batch's check for earlier open records of its keys reads open
records by request (see PushRecord.Meta)."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('integration', '0006_no_statistics_of_wide_columns'),
        ('pushconfig', '0014_in_flight_batches'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='pushrecord',
            index=models.Index(condition=models.Q(('outcome', 'pending'), models.Q(('next_attempt_at__isnull', False), ('outcome', 'failed'), ('permanent', False)), _connector='OR'), fields=['config', 'request_id', 'id'], name='push_open_request'),
        ),
    ]
