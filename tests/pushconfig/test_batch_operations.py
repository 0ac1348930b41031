"""Pause, resume, retry, cancel and delete in each status (and the refusals naming the status
the task is in), what each does to the task's records, and the daily purge of initialised and
succeeded tasks older than 7 days."""
import datetime as dt

import pytest
from django.utils import timezone

from pushconfig import batch
from pushconfig.models import PushRecord, PushTask
from pushconfig.models.task import TaskStatus
from pushconfig.vocabulary import Outcome
from tests.receivers import Answer

from .conftest import ECOLOGY_OK, deliver_all
from .test_batch_support import english, make_task, records_of, run_to_end, source_ids, world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
__all__ = ["english", "world"]  # fixtures, imported to be used by name

REFUSED = Answer(body={**ECOLOGY_OK, "operResult": "0", "message": "用户不存在"})
STATUSES = ["initialised", "running", "paused", "succeeded", "failed", "cancelled"]
ALLOWED = {
    "pause": {"initialised", "running"},
    "resume": {"paused"},
    "retry": {"failed"},
    "cancel": {"initialised", "running", "paused"},
    "delete": {"initialised", "paused", "succeeded", "failed", "cancelled"},
}
AFTER = {"pause": "paused", "resume": "running", "retry": "running", "cancel": "cancelled"}


@pytest.fixture
def small_chunks(settings):
    settings.BATCH_CHUNK_SIZE = 2


def task_in(status, config, receiver):
    """A realtime task over the six todos of `world`, brought to `status`."""
    if status == "failed":
        receiver.answer = REFUSED
        task = run_to_end(make_task(config, "realtime", receiver=["lisi"]))
        receiver.answer = Answer(body=ECOLOGY_OK)
        return task
    task = make_task(config, "realtime")
    if status == "succeeded":
        return run_to_end(task)
    if status in ("running", "paused"):
        batch.advance(task.pk)
        task.refresh_from_db()
    if status == "paused":
        batch.pause(task)
    if status == "cancelled":
        batch.cancel(task)
    assert task.status == status
    return task


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("operation", ["pause", "resume", "retry", "cancel", "delete"])
def test_it_allows_each_operation_only_from_its_statuses(world, receiver, small_chunks,
                                                          operation, status, monkeypatch):
    monkeypatch.setattr(batch, "start", lambda task_id: None)
    task = task_in(status, world, receiver)
    if status in ALLOWED[operation]:
        getattr(batch, operation)(task)
        if operation == "delete":
            assert not PushTask.objects.filter(pk=task.pk).exists()
        else:
            assert PushTask.objects.get(pk=task.pk).status == AFTER[operation]
        return
    with pytest.raises(batch.TransitionRefused) as refused:
        getattr(batch, operation)(task)
    label = str(TaskStatus(status).label)
    assert f"#{task.pk} is {label}" in str(refused.value)
    assert refused.value.status == status
    assert PushTask.objects.get(pk=task.pk).status == status  # unchanged


def test_it_stops_a_paused_task_at_its_next_chunk_and_resumes_where_it_was(world, receiver,
                                                                           small_chunks):
    task = make_task(world, "realtime")
    token, _countdown = batch.advance(task.pk)
    batch.pause(task)
    assert batch.advance(task.pk, token) == (None, None)  # the chain's next message stops
    deliver_all(world)
    assert len(receiver.requests) == 2  # what was written before the pause still goes out
    cursor = PushTask.objects.get(pk=task.pk).cursor
    batch.resume(task)
    assert task.status == TaskStatus.RUNNING and task.cursor == cursor
    run_to_end(task)
    assert task.status == TaskStatus.SUCCEEDED
    assert len(source_ids(task)) == len(set(source_ids(task))) == 6
    assert len(receiver.requests) == 6


def test_it_resumes_with_a_fresh_message_once_the_transaction_commits(
        world, receiver, monkeypatch, django_capture_on_commit_callbacks):
    started = []
    monkeypatch.setattr(batch, "start", started.append)
    task = make_task(world, "realtime")
    batch.pause(task)
    with django_capture_on_commit_callbacks(execute=True):
        batch.resume(task)
    assert started == [task.pk]


def test_it_retries_only_the_failed_records(world, receiver, monkeypatch,
                                            django_capture_on_commit_callbacks):
    receiver.answer = lambda got: REFUSED if got.json()["receiver"] == "lisi" else Answer(
        body=ECOLOGY_OK)
    task = run_to_end(make_task(world, "realtime"))
    assert task.status == TaskStatus.FAILED
    assert batch.failures_of(task).count() == 2
    succeeded = set(records_of(task).filter(outcome=Outcome.SUCCESS).values_list("id", flat=True))
    assert len(succeeded) == 4

    receiver.answer = Answer(body=ECOLOGY_OK)  # the cause is fixed
    receiver.requests.clear()
    handed, started = [], []
    monkeypatch.setattr(batch, "enqueue_lanes", handed.extend)
    monkeypatch.setattr(batch, "start", started.append)
    with django_capture_on_commit_callbacks(execute=True):
        assert batch.retry(task) == 2
    assert started == [task.pk]
    assert {config for config, _lane in handed} == {world.pk}
    assert task.status == TaskStatus.RUNNING and task.finished_at is None
    run_to_end(task)
    assert task.status == TaskStatus.SUCCEEDED
    assert sorted(r.json()["receiver"] for r in receiver.requests) == ["lisi", "lisi"]
    assert set(records_of(task).filter(outcome=Outcome.SUCCESS).values_list(
        "id", flat=True)) >= succeeded
    assert records_of(task).count() == 6  # the same records again, no new ones


def test_it_gives_retried_records_a_fresh_retry_budget(world, receiver, settings):
    settings.PUSH_MAX_ATTEMPTS = 2
    receiver.answer = Answer(status=503, headers={"Retry-After": "0"})
    task = make_task(world, "realtime", receiver=["lisi"])
    token, _countdown = batch.advance(task.pk)
    for _ in range(2):  # two transient failures: out of retries
        PushRecord.objects.filter(task=task).update(next_attempt_at=timezone.now())
        deliver_all(world)
    run_to_end(task, runner=token)
    assert task.status == TaskStatus.FAILED
    assert set(records_of(task).values_list("attempts", flat=True)) == {2}
    batch.retry(task)
    assert set(records_of(task).values_list("attempts", "compensations")) == {(0, 0)}
    deliver_all(world)  # one more transient failure is retried, not given up
    assert records_of(task).filter(outcome=Outcome.FAILED, next_attempt_at__isnull=False).exists()
    assert not batch.failures_of(task).exists()


def test_it_withdraws_what_a_cancelled_task_did_not_send(world, receiver, small_chunks):
    task = make_task(world, "realtime")
    token, _countdown = batch.advance(task.pk)
    assert batch.cancel(task) == 2
    assert task.status == TaskStatus.CANCELLED and task.finished_at is not None
    assert batch.advance(task.pk, token) == (None, None)
    deliver_all(world)
    assert receiver.requests == []
    assert set(records_of(task).values_list("outcome", flat=True)) == {Outcome.IGNORED}
    assert f"batch push task #{task.pk} was cancelled" in records_of(task).first().reason


def test_it_deletes_a_task_and_keeps_its_records_in_the_push_log(world, receiver):
    task = run_to_end(make_task(world, "realtime"))
    ids = set(records_of(task).values_list("id", flat=True))
    batch.delete(task)
    assert not PushTask.objects.filter(pk=task.pk).exists()
    kept = PushRecord.objects.filter(id__in=ids)
    assert kept.count() == 6 and set(kept.values_list("task", flat=True)) == {None}
    assert set(kept.values_list("kind", flat=True)) == {"realtime"}


def test_it_cancels_a_paused_task_before_deleting_it_so_nothing_more_is_sent(
        world, receiver, small_chunks):
    task = make_task(world, "realtime")
    batch.advance(task.pk)
    batch.pause(task)
    ids = set(records_of(task).values_list("id", flat=True))
    batch.delete(task)
    deliver_all(world)
    assert receiver.requests == []
    assert set(PushRecord.objects.filter(id__in=ids).values_list("outcome", flat=True)) == {
        Outcome.IGNORED}


def test_it_refuses_to_delete_a_running_task(world, receiver, small_chunks):
    task = make_task(world, "realtime")
    batch.advance(task.pk)
    with pytest.raises(batch.TransitionRefused, match="pause or cancel it before deleting it"):
        batch.delete(task)
    assert PushTask.objects.filter(pk=task.pk).exists()


def test_it_detaches_a_large_tasks_records_in_chunks(world, receiver, monkeypatch):
    monkeypatch.setattr(batch, "DETACH_CHUNK", 4)
    task = run_to_end(make_task(world, "realtime"))
    batch.detach(task.pk)
    assert not PushRecord.objects.filter(task=task).exists()
    assert PushRecord.objects.filter(kind="realtime").count() == 6


# -- purge ---------------------------------------------------------------------------------------
def test_it_purges_initialised_and_succeeded_tasks_older_than_seven_days(world, receiver,
                                                                          small_chunks):
    old = timezone.now() - dt.timedelta(days=7, minutes=1)
    recent = timezone.now() - dt.timedelta(days=6, hours=23)
    tasks = {}
    for status in STATUSES:
        for age, when in (("old", old), ("recent", recent)):
            task = task_in(status, world, receiver)
            PushTask.objects.filter(pk=task.pk).update(created_at=when)
            tasks[(status, age)] = task.pk
    succeeded_records = set(PushRecord.objects.filter(task=tasks[("succeeded", "old")])
                            .values_list("id", flat=True))
    assert batch.purge_tasks() == 2
    left = set(PushTask.objects.values_list("pk", flat=True))
    assert left == set(tasks.values()) - {tasks[("initialised", "old")],
                                          tasks[("succeeded", "old")]}
    assert PushRecord.objects.filter(id__in=succeeded_records).count() == 6  # the log stays


def test_the_purge_and_the_sweeper_are_beat_schedules(db):
    from django_celery_beat.models import PeriodicTask

    batch.ensure_schedules(sender=None)
    batch.ensure_schedules(sender=None)  # idempotent
    purge = PeriodicTask.objects.get(name=batch.PURGE_NAME)
    assert (purge.task, purge.queue) == ("pushconfig.batch.purge_tasks", "batch")
    assert (purge.crontab.hour, purge.crontab.minute) == ("3", "30")
    sweeper = PeriodicTask.objects.get(name=batch.SWEEP_NAME)
    assert (sweeper.task, sweeper.queue, sweeper.interval.every) == (
        "pushconfig.batch.sweep_tasks", "batch", 60)
    assert PeriodicTask.objects.filter(task__startswith="pushconfig.batch.").count() == 2


def test_the_batch_tasks_go_to_the_batch_queue():
    from config.celery import app

    for name in (batch.RUN_TASK, batch.SWEEP_TASK, batch.PURGE_TASK):
        assert name in app.tasks
        assert app.amqp.router.route({}, name)["queue"].name == "batch"


def test_deleting_a_config_takes_its_tasks_with_its_push_log(world, receiver):
    task = run_to_end(make_task(world, "realtime"))
    world.delete()
    assert not PushTask.objects.filter(pk=task.pk).exists()
    assert not PushRecord.objects.exists()
