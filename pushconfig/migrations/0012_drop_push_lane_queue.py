"""push_lane_queue goes: every lookup by lane is of open records (push_open_queue).

On PostgreSQL the index is dropped CONCURRENTLY: a plain DROP INDEX waits for an exclusive
lock on the push log behind every running query, and every query queues behind it."""
from django.db import migrations, models

INDEX = models.Index(fields=["config", "lane", "outcome", "id"], name="push_lane_queue")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")
    else:
        schema_editor.remove_index(apps.get_model("pushconfig", "PushRecord"), INDEX)


def create(apps, schema_editor):
    model = apps.get_model("pushconfig", "PushRecord")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(model, INDEX, concurrently=True)
    else:
        schema_editor.add_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("pushconfig", "0011_push_record_no_like_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, create)],
            state_operations=[migrations.RemoveIndex(model_name="pushrecord", name=INDEX.name)],
        ),
    ]
