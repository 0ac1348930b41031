"""No planner statistics for the inbox's wide columns (see integration/statistics.py)."""
from django.db import migrations

from integration.statistics import without_statistics


class Migration(migrations.Migration):
    dependencies = [("integration", "0005_inbound_event_no_like_indexes")]

    operations = [without_statistics({
        "integration.InboundEvent": ["payload"],
        "integration.Request": ["form_data", "sign_opinions"],
    })]
