"""No planner statistics for the push log's wide columns (see integration/statistics.py)."""
from django.db import migrations

from integration.statistics import without_statistics


class Migration(migrations.Migration):
    dependencies = [("pushconfig", "0012_drop_push_lane_queue")]

    operations = [without_statistics({
        "pushconfig.PushRecord": ["payload", "reason"],
        "pushconfig.PushAttempt": ["request", "response"],
    })]
