"""The batch runner: chunks streamed from the cursor (LIMITed queries, never the whole
source), records and cursor in one transaction, one chain of run_task messages per task, a
restart in the middle that neither loses nor duplicates anything, the throttle that keeps live
pushes flowing, and the task's end: succeeded, failed, or empty at once."""
import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integration.models import TodoItem
from pushconfig import batch
from pushconfig.models import PushRecord, PushTask
from pushconfig.models.task import TaskStatus
from pushconfig.vocabulary import Outcome
from tests.receivers import Answer

from .conftest import deliver_all, make_config, post_events
from .test_admin_support import todo
from .test_batch_support import english, make_task, records_of, run_to_end, source_ids, world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
__all__ = ["english", "world"]  # fixtures, imported to be used by name


@pytest.fixture
def small_chunks(settings):
    settings.BATCH_CHUNK_SIZE = 2
    return 2


def item_ids():
    return sorted(TodoItem.objects.values_list("id", flat=True))


def expire_lease(task):
    PushTask.objects.filter(pk=task.pk).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1))


# -- chunks ------------------------------------------------------------------------------------
def test_it_writes_one_chunk_per_step_and_moves_the_cursor_with_it(world, small_chunks,
                                                                   django_capture_on_commit_callbacks):
    task = make_task(world, "realtime")
    ids = item_ids()
    assert (task.total, task.source_end, task.cursor) == (6, ids[-1], 0)
    with django_capture_on_commit_callbacks() as callbacks:
        token, countdown = batch.advance(task.pk)
    task.refresh_from_db()
    assert countdown == 0  # more to do: the next message comes at once
    assert task.status == TaskStatus.RUNNING and task.started_at is not None
    assert task.cursor == ids[1] and task.runner == token
    assert source_ids(task) == ids[:2]
    assert len(callbacks) == 1  # the chunk's lanes, handed to the push workers on commit
    token, countdown = batch.advance(task.pk, token)
    task.refresh_from_db()
    assert task.cursor == ids[3] and source_ids(task) == ids[:4]


def test_it_streams_the_source_in_limited_queries(world, small_chunks):
    """Memory: each step reads one LIMITed chunk of the source after the cursor; nothing
    evaluates the whole queryset."""
    task = make_task(world, "realtime")
    token = None
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            token, _countdown = batch.advance(task.pk, token)
    reads = [q["sql"] for q in queries.captured_queries
             if q["sql"].lstrip().upper().startswith("SELECT")
             and '"integration_todoitem"' in q["sql"].split("WHERE")[0]]
    assert len(reads) == 3
    for sql in reads:
        assert "LIMIT 2" in sql and '"integration_todoitem"."id" >' in sql
    assert records_of(task).count() == 6


def test_it_streams_history_in_limited_queries(api, receiver, small_chunks):
    config = make_config(receiver.url)
    post_events(api, *[todo(n, request_id=f"50{n}", receiver="lisi") for n in range(1, 6)])
    deliver_all(config)
    task = make_task(config, "history")
    token = None
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            token, _countdown = batch.advance(task.pk, token)
    reads = [q["sql"] for q in queries.captured_queries
             if '"pushconfig_pushrecord"."payload"' in q["sql"]
             and q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(reads) == 3 and all("LIMIT 2" in sql for sql in reads)
    assert records_of(task).count() == 5


@pytest.mark.postgres_only
def test_it_locks_the_chunks_todo_items_against_a_concurrent_inbox_call(world, small_chunks):
    task = make_task(world, "realtime")
    with CaptureQueriesContext(connection) as queries:
        batch.advance(task.pk)
    reads = [q["sql"] for q in queries.captured_queries if "LIMIT 2" in q["sql"]]
    assert len(reads) == 1 and 'FOR UPDATE OF "integration_todoitem"' in reads[0]


def test_it_runs_a_task_to_the_end_and_delivers_everything_once(world, receiver, small_chunks):
    task = run_to_end(make_task(world, "realtime"))
    assert task.status == TaskStatus.SUCCEEDED and task.finished_at is not None
    assert task.cursor == task.source_end and task.runner == "" and task.lease_until is None
    assert len(receiver.requests) == 6
    assert source_ids(task) == item_ids()


# -- a restart in the middle ---------------------------------------------------------------------
def test_it_resumes_after_a_worker_died_between_two_chunks(world, receiver, small_chunks):
    """The step committed, then the worker died before sending the next message: the lease
    runs out, the sweeper's fresh message continues from the cursor."""
    task = make_task(world, "realtime")
    batch.advance(task.pk)  # chunk 1 committed; its next message is lost
    deliver_all(world)
    assert batch.advance(task.pk) == (None, None)  # leased: a second message stays out
    expire_lease(task)
    run_to_end(task)
    task.refresh_from_db()
    assert task.status == TaskStatus.SUCCEEDED
    assert source_ids(task) == item_ids()  # no duplicates, nothing missing
    sent = [(r.json()["flowid"], r.json()["receiver"]) for r in receiver.requests]
    assert len(sent) == len(set(sent)) == 6


def test_it_resumes_after_a_worker_died_in_the_middle_of_a_chunk(world, receiver, small_chunks,
                                                                 monkeypatch):
    """The worker dies after writing a chunk's records but before its transaction commits:
    records and cursor go together, so the chunk is written again, once."""
    task = make_task(world, "realtime")
    token, _countdown = batch.advance(task.pk)
    real_write = batch.write_chunk

    def dying(task):
        real_write(task)
        assert records_of(task).count() == 4  # written, not committed
        raise SystemExit("worker killed")

    monkeypatch.setattr(batch, "write_chunk", dying)
    # The test's own savepoint stands for the connection the dead worker lost.
    with pytest.raises(SystemExit), transaction.atomic():
        batch.advance(task.pk, token)
    monkeypatch.setattr(batch, "write_chunk", real_write)
    task.refresh_from_db()
    assert records_of(task).count() == 2 and task.cursor == item_ids()[1]
    expire_lease(task)  # the dead worker's lease runs out
    run_to_end(task)
    assert task.status == TaskStatus.SUCCEEDED
    assert source_ids(task) == item_ids()
    sent = [(r.json()["flowid"], r.json()["receiver"]) for r in receiver.requests]
    assert len(sent) == len(set(sent)) == 6


def test_it_writes_nothing_twice_when_a_chunk_is_replayed(world, small_chunks):
    """A chunk replayed from an older cursor (a redelivered message after its commit) finds
    its idempotency keys taken and adds nothing."""
    task = make_task(world, "realtime")
    token, _countdown = batch.advance(task.pk)
    first = list(records_of(task).values_list("id", "idempotency_key"))
    PushTask.objects.filter(pk=task.pk).update(cursor=0)
    batch.advance(task.pk, token)
    assert list(records_of(task).values_list("id", "idempotency_key"))[:2] == first
    assert records_of(task).count() == 2


# -- one chain of messages -----------------------------------------------------------------------
def test_it_runs_as_one_chain_of_messages(world, receiver, small_chunks, monkeypatch):
    sent = []
    monkeypatch.setattr(batch.run_task, "apply_async",
                        lambda args, **options: sent.append((args, options)))
    task = make_task(world, "realtime")
    batch.run_task(task.pk)
    (task_id, token), options = sent[-1]
    assert task_id == task.pk and options == {"countdown": 0, "retry": False}
    assert PushTask.objects.get(pk=task.pk).runner == token
    # A duplicate message (the sweeper's, say) while the chain holds the lease stops at once.
    batch.run_task(task.pk)
    assert len(sent) == 1
    for _ in range(20):
        deliver_all(world)
        count = len(sent)
        batch.run_task(*sent[-1][0])
        if len(sent) == count:
            break
    task.refresh_from_db()
    assert task.status == TaskStatus.SUCCEEDED
    # A stale message of the chain (an older token) does nothing.
    batch.run_task(task.pk, token)
    assert PushTask.objects.get(pk=task.pk).status == TaskStatus.SUCCEEDED


def test_it_waits_for_open_records_and_then_succeeds(world, receiver):
    task = make_task(world, "realtime", receiver=["lisi"])
    token, countdown = batch.advance(task.pk)  # the one chunk: the source is done
    assert countdown == batch.check_seconds()
    task.refresh_from_db()
    assert task.status == TaskStatus.RUNNING
    assert task.lease_until > timezone.now() + dt.timedelta(seconds=batch.lease_seconds())
    deliver_all(world)
    assert batch.advance(task.pk, token)[1] is None
    task.refresh_from_db()
    assert task.status == TaskStatus.SUCCEEDED


def test_it_waits_while_a_record_retries_and_fails_when_it_gives_up(world, receiver, settings):
    settings.PUSH_MAX_ATTEMPTS = 2
    receiver.answer = Answer(status=503, headers={"Retry-After": "0"})
    task = make_task(world, "realtime", receiver=["lisi"])
    token, _countdown = batch.advance(task.pk)
    deliver_all(world, rounds=1)
    assert records_of(task).filter(outcome=Outcome.FAILED, next_attempt_at__isnull=False).exists()
    token, countdown = batch.advance(task.pk, token)
    assert countdown == batch.check_seconds()  # a retry is due: still waiting
    PushRecord.objects.filter(task=task).update(next_attempt_at=timezone.now())
    deliver_all(world)
    assert batch.advance(task.pk, token)[1] is None
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert batch.failures_of(task).count() == 2
    assert "gave up after 2 attempts" in batch.failures_of(task).first().reason


def test_it_finishes_an_empty_match_at_once(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        task = make_task(world, "realtime", receiver=["nobody"])
    assert (task.status, task.total) == (TaskStatus.SUCCEEDED, 0)
    assert task.finished_at is not None and callbacks == []  # nothing to run
    assert batch.progress(task, batch.counts([task.pk])[task.pk])["percent"] == 100


def test_it_starts_a_new_task_when_the_transaction_commits(world, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    started = []
    monkeypatch.setattr(batch.run_task, "apply_async",
                        lambda args, **options: started.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        task = make_task(world, "realtime")
    assert task.status == TaskStatus.INITIALISED and started == [(task.pk,)]


def test_it_sets_the_total_to_what_was_written_when_items_vanished(world, receiver):
    task = make_task(world, "realtime")
    TodoItem.objects.filter(request__request_id="2002").delete()  # the OA dropped a request
    run_to_end(task)
    assert task.total == 4 and task.status == TaskStatus.SUCCEEDED
    assert batch.progress(task, batch.counts([task.pk])[task.pk])["percent"] == 100


# -- live pushes are not starved -----------------------------------------------------------------
def test_it_waits_while_the_config_holds_too_many_open_batch_records(world, receiver,
                                                                      small_chunks, settings):
    settings.BATCH_MAX_OPEN_RECORDS = 2
    task = make_task(world, "realtime")
    token, countdown = batch.advance(task.pk)
    assert countdown == 0 and records_of(task).count() == 2
    token, countdown = batch.advance(task.pk, token)
    assert countdown == batch.throttle_seconds()
    assert records_of(task).count() == 2  # held back until the target took the first chunk
    deliver_all(world)
    token, countdown = batch.advance(task.pk, token)
    assert countdown == 0 and records_of(task).count() == 4


def test_it_is_not_held_back_by_live_records(world, api, receiver, small_chunks, settings):
    settings.BATCH_MAX_OPEN_RECORDS = 2
    post_events(api, *[todo(n, request_id=f"60{n}", receiver="lisi") for n in range(10, 15)])
    assert PushRecord.objects.filter(task=None, outcome=Outcome.PENDING).count() == 5
    task = make_task(world, "realtime", request_id=["2001", "2002"])
    _token, countdown = batch.advance(task.pk)
    assert countdown == 0 and records_of(task).count() == 2


def test_it_counts_the_open_records_of_every_task_of_the_config(world, small_chunks, settings):
    settings.BATCH_MAX_OPEN_RECORDS = 2
    first = make_task(world, "realtime")
    batch.advance(first.pk)
    second = make_task(world, "realtime")
    assert batch.advance(second.pk)[1] == batch.throttle_seconds()
    assert records_of(second).count() == 0


# -- the sweeper ---------------------------------------------------------------------------------
def test_the_sweeper_restarts_active_tasks_whose_lease_ran_out(world, monkeypatch):
    started = []
    monkeypatch.setattr(batch, "start", started.append)
    fresh = make_task(world, "realtime")  # initialised, its message maybe lost
    leased = make_task(world, "realtime")
    batch.advance(leased.pk)
    expired = make_task(world, "realtime")
    batch.advance(expired.pk)
    expire_lease(expired)
    paused = make_task(world, "realtime")
    batch.pause(paused)
    assert batch.sweep_tasks() == 2
    assert sorted(started) == sorted([fresh.pk, expired.pk])
