"""The nightly pruning of archive jobs: finished ones (archived, or failed for good) go after
ARCHIVE_JOB_KEEP_DAYS with their snapshots; unfinished ones and the archive log stay."""
import datetime as dt
import importlib

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from archiving import conf, outbox
from archiving.models import ArchiveJob, ArchiveLog

from .conftest import directory_target, make_scheme, post_event, workflow_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(api, workflow, tmp_path):
    """Six archived jobs, each with its log row."""
    make_scheme(workflow, directory_target(tmp_path), trigger="moment", node_name="批准",
                moment="before")
    for _ in range(6):
        post_event(api, workflow_event("批准", moment="before"))
    ids = list(ArchiveJob.objects.order_by("id").values_list("id", flat=True))
    for job_id in ids:
        assert outbox.run_job(job_id).status == "done"
    return ids


def age(job_id, days, **fields):
    ArchiveJob.objects.filter(pk=job_id).update(
        updated_at=timezone.now() - dt.timedelta(days=days), **fields)


def test_finished_jobs_past_the_keep_days_are_pruned_in_chunks_unfinished_ones_never(
        jobs, settings):
    settings.ARCHIVE_JOB_KEEP_DAYS = 30
    done_old, failed_old, pending_old, running_old, done_recent, failed_recent = jobs
    age(done_old, 31)
    age(failed_old, 40, status="failed")
    age(pending_old, 90, status="pending", next_attempt_at=timezone.now())
    age(running_old, 90, status="running", claimed_until=timezone.now())
    age(done_recent, 29)
    age(failed_recent, 29, status="failed")
    assert outbox.prune(chunk=1) == 2
    assert sorted(ArchiveJob.objects.values_list("id", flat=True)) == [
        pending_old, running_old, done_recent, failed_recent]
    assert ArchiveLog.objects.count() == 6  # the log keeps every outcome
    assert outbox.prune() == 0


def test_the_keep_days_setting_moves_the_cutoff(jobs, settings):
    settings.ARCHIVE_JOB_KEEP_DAYS = 7
    age(jobs[0], 8)
    age(jobs[1], 6)
    assert outbox.prune() == 1
    assert not ArchiveJob.objects.filter(pk=jobs[0]).exists()


def test_the_keep_days_come_from_the_environment_strictly(monkeypatch):
    assert conf.get("ARCHIVE_JOB_KEEP_DAYS") == 30
    try:
        monkeypatch.setenv("ARCHIVE_JOB_KEEP_DAYS", "90")
        importlib.reload(conf)
        assert conf.get("ARCHIVE_JOB_KEEP_DAYS") == 90
        for bad in ("0", "a month"):
            monkeypatch.setenv("ARCHIVE_JOB_KEEP_DAYS", bad)
            with pytest.raises(ImproperlyConfigured, match="ARCHIVE_JOB_KEEP_DAYS"):
                importlib.reload(conf)
    finally:
        monkeypatch.delenv("ARCHIVE_JOB_KEEP_DAYS")
        importlib.reload(conf)
    assert conf.get("ARCHIVE_JOB_KEEP_DAYS") == 30


def test_pruning_is_a_nightly_beat_schedule_on_the_archive_queue(db):
    from django_celery_beat.models import PeriodicTask

    from archiving.apps import ensure_schedules
    from config.celery import app

    ensure_schedules(sender=None)
    ensure_schedules(sender=None)  # every migrate runs it: still one schedule
    task = PeriodicTask.objects.get(name="Archive job pruning")
    assert (task.task, task.queue, task.interval) == ("archiving.tasks.prune_jobs", "archive",
                                                      None)
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("45", "3", "*")
    assert app.amqp.router.route({}, "archiving.tasks.prune_jobs", (), {})["queue"].name == (
        "archive")


def test_the_task_prunes(jobs, settings):
    from archiving.tasks import prune_jobs

    age(jobs[0], 31)
    assert prune_jobs() == 1
