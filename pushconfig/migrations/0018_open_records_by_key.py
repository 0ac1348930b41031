"""push_open_request by key (config, request, receiver, identity, id): the earlier-open
check of a batch and of compensation probes it once per key, and reads no row of the
request's other receivers (see PushRecord.Meta)."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('integration', '0009_api_tokens'),
        ('pushconfig', '0017_drop_push_config_key'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='pushrecord',
            name='push_open_request',
        ),
        migrations.AddIndex(
            model_name='pushrecord',
            index=models.Index(condition=models.Q(('outcome', 'pending'), models.Q(('next_attempt_at__isnull', False), ('outcome', 'failed'), ('permanent', False)), _connector='OR'), fields=['config', 'request_id', 'receiver', 'identity', 'id'], name='push_open_request'),
        ),
    ]
