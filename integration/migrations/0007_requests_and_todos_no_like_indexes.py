"""The requests' and todo items' text columns indexed without their "_like" twins, and the
todo item's request without an index of its own (its unique key starts with it): every event
that writes an item or changes its request paid for seven index entries no query reads."""
from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models

# Rename in place and drop only the twins on PostgreSQL (see there).
KeepIndexesOnPostgreSQL = import_module(
    "integration.migrations.0005_inbound_event_no_like_indexes").KeepIndexesOnPostgreSQL
# Django's own name for the todo item's request index (the same on PostgreSQL and SQLite).
REQUEST_INDEX = "integration_todoitem_request_id_7d841c1f"


class Migration(migrations.Migration):

    dependencies = [
        ('integration', '0006_no_statistics_of_wide_columns'),
    ]

    operations = [
        KeepIndexesOnPostgreSQL(
            table='integration_request',
            indexes=[('workflow_ref', 'request_workflow_ref'), ('creator', 'request_creator'), ('status', 'request_status')],
            unique=[('request_id', 'request_id_unique')],
            operations=[
                migrations.AlterField(
                    model_name='request',
                    name='creator',
                    field=models.CharField(blank=True, max_length=64, verbose_name='creator'),
                ),
                migrations.AlterField(
                    model_name='request',
                    name='request_id',
                    field=models.CharField(max_length=64, verbose_name='request id'),
                ),
                migrations.AlterField(
                    model_name='request',
                    name='status',
                    field=models.CharField(choices=[('running', 'Running'), ('finished', 'Finished'), ('deleted', 'Deleted')], default='running', max_length=16, verbose_name='status'),
                ),
                migrations.AlterField(
                    model_name='request',
                    name='workflow_ref',
                    field=models.CharField(blank=True, max_length=64, verbose_name='workflow id'),
                ),
                migrations.AddIndex(
                    model_name='request',
                    index=models.Index(fields=['workflow_ref'], name='request_workflow_ref'),
                ),
                migrations.AddIndex(
                    model_name='request',
                    index=models.Index(fields=['creator'], name='request_creator'),
                ),
                migrations.AddIndex(
                    model_name='request',
                    index=models.Index(fields=['status'], name='request_status'),
                ),
                migrations.AddConstraint(
                    model_name='request',
                    constraint=models.UniqueConstraint(fields=('request_id',), name='request_id_unique'),
                ),
            ],
        ),
        KeepIndexesOnPostgreSQL(
            table='integration_todoitem',
            indexes=[('data_set', 'todo_data_set'), ('task_id', 'todo_task_id')],
            unique=[],
            operations=[
                migrations.AlterField(
                    model_name='todoitem',
                    name='data_set',
                    field=models.CharField(choices=[('todo', 'Todo'), ('done', 'Done'), ('over', 'Finished'), ('delete', 'Deleted')], max_length=8, verbose_name='data set'),
                ),
                migrations.AlterField(
                    model_name='todoitem',
                    name='task_id',
                    field=models.CharField(blank=True, max_length=64, verbose_name='task id'),
                ),
                migrations.AddIndex(
                    model_name='todoitem',
                    index=models.Index(fields=['data_set'], name='todo_data_set'),
                ),
                migrations.AddIndex(
                    model_name='todoitem',
                    index=models.Index(fields=['task_id'], name='todo_task_id'),
                ),
            ],
        ),
        # Only the index is dropped (AlterField would also drop and re-validate the foreign key).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                        migrations.AlterField(
                            model_name='todoitem',
                            name='request',
                            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='todo_items', to='integration.request', verbose_name='request'),
                        ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {REQUEST_INDEX}",
                    f"CREATE INDEX IF NOT EXISTS {REQUEST_INDEX} ON integration_todoitem (request_id)",
                ),
            ],
        ),
    ]
