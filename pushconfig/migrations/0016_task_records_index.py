"""push_task: records of batch tasks only (see PushRecord.Meta)."""
import django.db.models.deletion
from django.db import migrations, models

# Django's own name for the task FK's index (the same on PostgreSQL and SQLite).
INDEX = "pushconfig_pushrecord_task_id_b6f7cdb0"


class Migration(migrations.Migration):
    """The task FK's index of every record gives way to a partial one. Only the index is
    dropped (AlterField would also drop and re-validate the foreign key, scanning the whole
    log)."""

    dependencies = [
        ('pushconfig', '0015_open_records_by_request'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='pushrecord',
                    name='task',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='records', to='pushconfig.pushtask', verbose_name='batch push task'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    f"CREATE INDEX IF NOT EXISTS {INDEX} ON pushconfig_pushrecord (task_id)",
                ),
            ],
        ),
        migrations.AddIndex(
            model_name='pushrecord',
            index=models.Index(condition=models.Q(('task__isnull', False)), fields=['task'], name='push_task'),
        ),
    ]
