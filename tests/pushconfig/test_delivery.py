"""Delivery: order per (request, receiver, identity), retries, leases, the sweeper, outages."""
from datetime import timedelta

import pytest
from django.utils import timezone

from integration.models import Person
from pushconfig import delivery
from pushconfig.models import DeliveryLane, InFlightBatch, PushAttempt, PushRecord
from tests.integration.helpers import todo_event
from tests.receivers import Answer

from .conftest import ECOLOGY_OK, deliver_all, in_flight, make_config
from .conftest import post_events as post

pytestmark = pytest.mark.django_db
REFUSED = {**ECOLOGY_OK, "operResult": "0", "message": "接收人不存在"}


def todo(minute, **kw):
    return todo_event(occurred_at=f"2026-11-20T09:{minute:02d}:00+08:00", **kw)


def done(minute, **kw):
    return todo_event(data_set="done", business_status="approve",
                      occurred_at=f"2026-11-20T09:{minute:02d}:00+08:00", **kw)


def make_due(config):
    PushRecord.objects.filter(config=config, next_attempt_at__isnull=False).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_it_delivers_a_keys_records_in_the_order_they_happened(api, receiver):
    config = make_config(receiver.url)
    post(api, done(5), todo(1))
    deliver_all(config)
    assert [r.json()["isremark"] for r in receiver.requests] == ["0", "2"]


def test_it_sends_the_idempotency_key_and_a_repeat_event_makes_no_new_push(api, receiver):
    config = make_config(receiver.url)
    post(api, todo(1, event_id="e-1"))
    post(api, todo(1, event_id="e-1"))
    deliver_all(config)
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["Idempotency-Key"] == f"{config.pk}:e-1"


def test_it_holds_later_records_of_a_key_behind_a_transient_failure(api, receiver):
    config = make_config(receiver.url)
    failed = []

    def answer(got):  # lisi's first call meets a busy target; everything else goes through
        if got.json()["receiver"] == "lisi" and not failed:
            failed.append(got)
            return Answer(503, "busy")
        return Answer(body=ECOLOGY_OK)

    receiver.answer = answer
    post(api, todo(1), done(2), todo(3, receiver="other"))
    deliver_all(config)
    todo_record = PushRecord.objects.get(config=config, data_set="todo", receiver="lisi")
    assert todo_record.outcome == "failed" and not todo_record.permanent
    assert todo_record.next_attempt_at > timezone.now()
    assert PushRecord.objects.get(config=config, data_set="done").outcome == "pending"
    assert PushRecord.objects.get(config=config, receiver="other").outcome == "success"
    make_due(config)
    deliver_all(config)
    lisi = [r.json()["isremark"] for r in receiver.requests if r.json()["receiver"] == "lisi"]
    assert lisi == ["0", "0", "2"]
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}
    assert todo_record.attempt_log.count() == 2


def test_it_does_not_hold_a_key_behind_a_permanent_failure(api, receiver):
    config = make_config(receiver.url)
    answers = iter([Answer(body=REFUSED), Answer(body=ECOLOGY_OK)])
    receiver.answer = lambda got: next(answers)
    post(api, todo(1), done(2))
    deliver_all(config)
    first = PushRecord.objects.get(config=config, data_set="todo")
    assert (first.outcome, first.permanent, first.next_attempt_at) == ("failed", True, None)
    assert "接收人不存在" in first.reason
    assert PushRecord.objects.get(config=config, data_set="done").outcome == "success"


def test_it_gives_up_after_the_configured_number_of_attempts(api, receiver, settings):
    settings.PUSH_MAX_ATTEMPTS = 2
    config = make_config(receiver.url)
    receiver.answer = Answer(502, "bad gateway")
    post(api, todo(1))
    deliver_all(config)
    make_due(config)
    deliver_all(config)
    record = PushRecord.objects.get(config=config)
    assert (record.outcome, record.attempts, record.next_attempt_at) == ("failed", 2, None)
    assert "2" in record.reason
    assert len(receiver.requests) == 2


def test_it_honours_retry_after(api, receiver):
    config = make_config(receiver.url)
    receiver.answer = Answer(429, "slow down", headers={"Retry-After": "600"})
    post(api, todo(1))
    deliver_all(config)
    record = PushRecord.objects.get(config=config)
    wait = (record.next_attempt_at - timezone.now()).total_seconds()
    assert 500 < wait <= 600


@pytest.mark.parametrize("header, low, high", [
    ("99999999999999999999", 86000, 86400),           # capped at a day, no overflow
    ("Mon, 1 Jan 9999 00:00:00 GMT", 86000, 86400),
    ("²", 0, 60),                                     # not a number: the usual backoff
    ("Wed, 21 Oct 2015 07:28:00 -0000", 0, 60),       # in the past
])
def test_a_targets_retry_after_cannot_park_a_todo_for_long_or_break_the_batch(
        api, receiver, header, low, high):
    config = make_config(receiver.url)
    receiver.answer = Answer(503, "busy", headers={"Retry-After": header})
    post(api, todo(1))
    deliver_all(config)
    record = PushRecord.objects.get(config=config)
    assert (record.outcome, record.attempts) == ("failed", 1)
    wait = (record.next_attempt_at - timezone.now()).total_seconds()
    assert low < wait <= high


def test_it_treats_a_closed_port_as_transient(api):
    config = make_config("http://127.0.0.1:9")
    post(api, todo(1))
    deliver_all(config)
    record = PushRecord.objects.get(config=config)
    assert record.outcome == "failed" and not record.permanent
    assert PushAttempt.objects.get(record=record).error_class == "TransportError"


def test_it_fails_permanently_without_a_call_when_a_person_cannot_be_mapped(api, receiver):
    Person.objects.create(external_id="u1", login_id="lisi", name="李四", email="")
    config = make_config(receiver.url, person_mapping="email")
    post(api, todo(1), todo(2, receiver="ghost"))
    deliver_all(config)
    records = {r.receiver: r for r in PushRecord.objects.filter(config=config)}
    assert records["lisi"].permanent and "lisi" in records["lisi"].reason
    assert records["ghost"].permanent and "ghost" in records["ghost"].reason
    assert set(PushAttempt.objects.values_list("error_class", flat=True)) == {"MappingError"}
    assert receiver.requests == []


def test_it_sends_the_mapped_user_ids(api, receiver):
    Person.objects.create(external_id="u1", login_id="lisi", name="李四", work_code="A-001")
    Person.objects.create(external_id="u2", login_id="zhangsan", name="张三", work_code="A-000")
    config = make_config(receiver.url, person_mapping="work_code")
    post(api, todo(1))
    deliver_all(config)
    sent = receiver.requests[0].json()
    assert (sent["receiver"], sent["creator"]) == ("A-001", "A-000")


def test_it_writes_the_batch_in_flight_before_the_call_and_the_attempt_with_the_answer(
        api, receiver, monkeypatch):
    from pushconfig.transports.ecology import EcologyTransport

    config = make_config(receiver.url)
    seen = []
    real_send_one = EcologyTransport.send_one

    def send_one(self, item):  # look at the log from the worker's side, as the call leaves
        seen.append((list(InFlightBatch.objects.values_list("tries", "lanes")),
                     PushAttempt.objects.count()))
        return real_send_one(self, item)

    monkeypatch.setattr(EcologyTransport, "send_one", send_one)
    post(api, todo(1))
    record = PushRecord.objects.get()
    deliver_all(config)
    assert seen == [([([[record.pk, 1]], [record.lane])], 0)]  # the trace of the call in flight
    assert not InFlightBatch.objects.exists()
    attempt = PushAttempt.objects.get()
    assert attempt.outcome == "success" and attempt.http_status == 200 and attempt.number == 1
    assert attempt.started_at <= attempt.finished_at
    assert attempt.request["flowid"] == "1001" and "operResult" in attempt.response


def test_a_record_deleted_while_its_call_is_out_gets_no_attempt_and_the_others_do(
        api, receiver, monkeypatch):
    from pushconfig.transports.ecology import EcologyTransport

    config = make_config(receiver.url)
    post(api, todo(1), todo(2, request_id="1002"))
    first, second = PushRecord.objects.order_by("id")
    real_send_one = EcologyTransport.send_one

    def send_one(self, item):  # the admin deletes the second record meanwhile
        PushRecord.objects.filter(pk=second.pk).delete()
        return real_send_one(self, item)

    monkeypatch.setattr(EcologyTransport, "send_one", send_one)
    for lane in {first.lane, second.lane}:
        delivery.run_lane(config.pk, lane)
    first.refresh_from_db()
    assert first.outcome == "success"
    assert list(PushAttempt.objects.values_list("record_id", flat=True)) == [first.pk]
    assert not InFlightBatch.objects.exists()


def test_it_leaves_a_lane_held_by_another_worker_alone(api, receiver):
    config = make_config(receiver.url)
    post(api, todo(1))
    lane = PushRecord.objects.get().lane
    DeliveryLane.objects.create(config=config, lane=lane, holder="other",
                                leased_until=timezone.now() + timedelta(minutes=1))
    assert delivery.run_lane(config.pk, lane) is None
    assert receiver.requests == []
    DeliveryLane.objects.filter(config=config).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert delivery.run_lane(config.pk, lane).sent == 1


def test_it_keeps_records_of_a_disabled_config_waiting(api, receiver):
    config = make_config(receiver.url)
    post(api, todo(1))
    config.enabled = False
    config.save()
    deliver_all(config)
    assert PushRecord.objects.get().outcome == "pending"
    config.enabled = True
    config.save()
    deliver_all(config)
    assert PushRecord.objects.get().outcome == "success"


def test_it_enqueues_delivery_when_the_inbox_transaction_commits(api, receiver, settings,
                                                                django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        make_config(receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            post(api, todo(1), done(2))
    finally:
        app.conf.task_always_eager = False
    assert [r.json()["isremark"] for r in receiver.requests] == ["0", "2"]
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}


def test_it_keeps_accepted_work_when_the_broker_is_down_and_the_sweeper_sends_it(
        api, receiver, django_capture_on_commit_callbacks):
    import time

    from config.celery import app

    make_config(receiver.url)
    real_url = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    app._pool = None
    try:
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            post(api, *[todo(1, receiver=f"u{n}", request_id=f"R{n}") for n in range(40)])
        took = time.monotonic() - started
    finally:
        app.conf.broker_url = real_url
        app._pool = None
    assert took < 3, took  # the answer does not wait on a dead broker, lane after lane
    assert len(set(PushRecord.objects.values_list("lane", flat=True))) > 1
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"pending"}
    app.conf.task_always_eager = True
    try:
        assert delivery.sweep() >= 2
    finally:
        app.conf.task_always_eager = False
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}


def test_the_sweeper_closes_what_a_crash_left_in_flight_and_retries_its_records(
        api, receiver):
    config = make_config(receiver.url)
    post(api, todo(1))
    record = PushRecord.objects.get()
    # What a worker dying mid-call leaves: its batch in flight; the record counts a try only
    # when its answer is written.
    started = timezone.now() - timedelta(minutes=10)
    in_flight(record, started_at=started)
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        delivery.sweep()
    finally:
        app.conf.task_always_eager = False
    first, second = PushAttempt.objects.filter(record=record).order_by("number")
    assert (first.number, first.outcome, first.error_class) == (1, "failed", "Interrupted")
    assert first.started_at == started and first.finished_at > started
    assert (second.number, second.outcome) == (2, "success")
    record.refresh_from_db()
    assert (record.outcome, record.attempts) == ("success", 2)
    assert config.records.count() == 1 and not InFlightBatch.objects.exists()


def test_a_try_a_crash_left_open_counts_whether_the_sweeper_or_a_worker_comes_first(
        api, receiver):
    config = make_config(receiver.url)
    post(api, todo(1))
    record = PushRecord.objects.get()
    in_flight(record, started_at=timezone.now() - timedelta(minutes=10))
    deliver_all(config)  # a worker takes the record before the sweeper closed the batch
    record.refresh_from_db()
    assert (record.outcome, record.attempts) == ("success", 1)
    delivery.close_interrupted(timezone.now())
    record.refresh_from_db()
    assert record.attempts == 2  # two tries: the one cut short and the one answered
    assert sorted(PushAttempt.objects.filter(record=record).values_list(
        "number", "error_class")) == [(1, ""), (1, "Interrupted")]

    post(api, todo(2, request_id="1002"))  # and the other way round: a crash, then the sweeper
    other = PushRecord.objects.get(request_id="1002")
    in_flight(other, started_at=timezone.now() - timedelta(minutes=10))
    delivery.close_interrupted(timezone.now())
    other.refresh_from_db()
    assert (other.outcome, other.attempts) == ("pending", 1)
    deliver_all(config)
    assert list(PushAttempt.objects.filter(record=other).order_by("number").values_list(
        "number", "outcome")) == [(1, "failed"), (2, "success")]


def test_the_sweeper_leaves_a_batch_that_outlasts_a_lease_alone(api, receiver):
    """A batch to a slow target can take longer than a lease; its worker keeps the lanes'
    lease renewed, so its batch is not a crash's and its records are not charged."""
    config = make_config(receiver.url)
    post(api, todo(1))
    record = PushRecord.objects.get()
    in_flight(record, started_at=timezone.now() - timedelta(minutes=10))
    DeliveryLane.objects.create(config=config, lane=record.lane, holder="worker-1",
                                leased_until=timezone.now() + timedelta(seconds=60))
    delivery.close_interrupted(timezone.now())
    record.refresh_from_db()
    assert (PushAttempt.objects.count(), record.attempts) == (0, 0)
    assert InFlightBatch.objects.count() == 1
    DeliveryLane.objects.filter(config=config).update(leased_until=timezone.now())  # it died
    delivery.close_interrupted(timezone.now())
    record.refresh_from_db()
    assert (PushAttempt.objects.get().error_class, record.attempts) == ("Interrupted", 1)
    assert not InFlightBatch.objects.exists()


def test_the_sweeper_leaves_a_batch_younger_than_a_lease_alone(api, receiver):
    """The sweeper calls a batch lost only once it is older than a lease, whatever the lane
    rows say."""
    make_config(receiver.url)
    post(api, todo(1))
    record = PushRecord.objects.get()
    in_flight(record, started_at=timezone.now() - timedelta(seconds=5))
    delivery.close_interrupted(timezone.now())
    assert (PushAttempt.objects.count(), InFlightBatch.objects.count()) == (0, 1)


def test_a_record_re_pushed_below_a_tasks_bound_is_picked_up_when_the_task_ends(
        api, receiver, settings, monkeypatch):
    settings.PUSH_LANES = 1
    config = make_config(receiver.url)
    post(api, *[todo(n, request_id=str(5000 + n)) for n in range(3)])
    deliver_all(config)
    first = PushRecord.objects.order_by("id").first()
    post(api, todo(9, request_id="5009"))
    real = delivery.send_batch

    def re_push_the_first_meanwhile(*args, **kwargs):
        PushRecord.objects.filter(pk=first.pk).update(outcome="pending")
        return real(*args, **kwargs)

    monkeypatch.setattr(delivery, "send_batch", re_push_the_first_meanwhile)
    run = delivery.run_lane(config.pk, 0)
    assert run.sent == 1 and run.more  # the task's enqueue found the lane busy: go again


def test_an_answer_that_breaks_off_is_transient_and_retried(api, receiver):
    """Headers, half a body, then the connection closes: the target may have acted or not, so
    the push is tried again (its idempotency key lets the target drop a repeat)."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def cut_once():
        conn, _addr = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 200\r\n\r\n{\"operResult\": ")
        conn.close()

    thread = threading.Thread(target=cut_once, daemon=True)
    thread.start()
    config = make_config(f"http://127.0.0.1:{listener.getsockname()[1]}")
    post(api, todo(1))
    deliver_all(config)
    thread.join(5)
    listener.close()
    record = PushRecord.objects.get(config=config)
    assert (record.outcome, record.permanent) == ("failed", False)
    assert record.next_attempt_at is not None
    assert "broke off" in record.reason


def test_a_tasks_next_window_starts_above_what_it_finished_and_leaves_nothing_behind(
        api, receiver, settings):
    """next_batch's resume bound: every open, due record at or below it was taken."""
    settings.PUSH_LANES = 1
    config = make_config(receiver.url)
    events = [todo(n % 50, request_id=str(2000 + n % 7), receiver=f"u{n % 3}")
              for n in range(40)]
    post(api, *events)
    blocked = PushRecord.objects.filter(config=config).order_by("id")[3]
    PushRecord.objects.filter(pk=blocked.pk).update(
        outcome="failed", next_attempt_at=timezone.now() + timedelta(hours=1))
    taken_ids, after = set(), 0
    while True:
        batch, after = delivery.next_batch(config.pk, 0, 4, after)
        if not batch:
            break
        taken_ids |= {r.pk for r in batch}
        due_below = set(delivery.open_records(config.pk).filter(
            next_attempt_at__isnull=True, id__lte=after).values_list("id", flat=True))
        assert due_below <= taken_ids
        PushRecord.objects.filter(pk__in=[r.pk for r in batch]).update(outcome="success")
    left = PushRecord.objects.filter(config=config).exclude(outcome="success")
    assert all(r.key == blocked.key for r in left)  # only the key held behind its retry
    assert left.filter(pk=blocked.pk).exists() and left.count() > 1


def test_a_batch_looks_past_keys_held_behind_earlier_records(api, receiver, settings):
    """A batch's first keys all wait behind earlier records (retries not yet due): the batch
    takes the keys after them, and its bound stays below the first record it left."""
    settings.PUSH_LANES = 1
    config = make_config(receiver.url)
    held = [str(4000 + n) for n in range(4)]
    post(api, *[todo(n, request_id=r) for n, r in enumerate(held)],
         *[done(10 + n, request_id=r) for n, r in enumerate(held)],
         *[todo(20 + n, request_id=str(4100 + n)) for n in range(2)])
    first = PushRecord.objects.filter(config=config).order_by("id")
    PushRecord.objects.filter(pk__in=[r.pk for r in first[:4]]).update(
        outcome="failed", next_attempt_at=timezone.now() + timedelta(hours=1))
    batch, after = delivery.next_batch(config.pk, 0, 4)
    assert [r.request_id for r in batch] == ["4100", "4101"]
    assert after == first[4].pk - 1  # the first `done`, held: looked at again next time


def test_a_later_candidate_held_by_a_record_between_it_and_the_first_ones_waits(
        api, receiver, settings):
    """size 2: A1 and B1 wait behind A0 and B0; C1 waits behind C0, which sits between
    them and C1 and is not due; D1 goes. The bound stays below A1."""
    settings.PUSH_LANES = 1
    config = make_config(receiver.url)
    post(api, todo(1, request_id="A"), todo(2, request_id="B"), done(3, request_id="A"),
         done(4, request_id="B"), todo(5, request_id="C"), done(6, request_id="C"),
         todo(7, request_id="D"))
    a0, b0, a1, _b1, c0, _c1, _d1 = PushRecord.objects.filter(config=config).order_by("id")
    PushRecord.objects.filter(pk__in=[a0.pk, b0.pk, c0.pk]).update(
        outcome="failed", next_attempt_at=timezone.now() + timedelta(hours=1))
    batch, after = delivery.next_batch(config.pk, 0, 2)
    assert [(r.request_id, r.data_set) for r in batch] == [("D", "todo")]
    assert after == a1.pk - 1


def test_lanes_of_reads_one_row_per_lane_not_per_record(api, receiver, settings):
    """The sweeper, a breaker's recovery and a re-push ask for the lanes of many records."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.PUSH_LANES = 2
    config = make_config(receiver.url)
    post(api, *[todo(n % 60, request_id=str(6000 + n)) for n in range(40)])
    with CaptureQueriesContext(connection) as queries:
        pairs = delivery.lanes_of(delivery.open_records(config.pk))
    assert pairs == {(config.pk, 0), (config.pk, 1)}
    with connection.cursor() as cursor:
        cursor.execute(queries.captured_queries[-1]["sql"])
        assert len(cursor.fetchall()) == 2


def test_records_a_batch_stopped_before_are_sent_by_the_same_task(api, receiver, settings,
                                                                   monkeypatch):
    from pushconfig.transports.base import Transport, not_sent

    settings.PUSH_LANES = 1
    config = make_config(receiver.url)
    post(api, *[todo(n, request_id=str(3000 + n)) for n in range(6)])
    real, calls = Transport.send, []

    def first_batch_stops_half_way(self, items, keep_going=None):
        calls.append(len(items))
        if len(calls) == 1:
            return real(self, items[:3], keep_going) + [not_sent() for _ in items[3:]]
        return real(self, items, keep_going)

    monkeypatch.setattr(Transport, "send", first_batch_stops_half_way)
    run = delivery.run_lane(config.pk, 0)
    assert calls == [6, 3] and run.sent == 6
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}
    assert [r.json()["flowid"] for r in receiver.requests] == [str(3000 + n) for n in range(6)]


@pytest.mark.postgres_only
def test_the_window_walks_the_open_queue_even_when_statistics_say_all_is_pending(receiver):
    """Statistics taken while a burst was all pending made PostgreSQL walk the primary key
    past every finished record for each batch; the window must use the open-queue index."""
    from bench.seed import records  # SQL generate_series: 40,000 rows in a second

    config = make_config(receiver.url)
    records(config.pk, 40_000, "burst", outcome="'pending'")  # and ANALYZE, all pending
    PushRecord.objects.filter(config=config, id__lte=PushRecord.objects.order_by("id")
                              .values_list("id", flat=True)[29_999]).update(outcome="success")
    window = delivery._queue(config.pk, 3).values_list("id", flat=True)[:400]
    assert "push_open_queue" in window.explain()
    assert list(window) == list(PushRecord.objects.filter(
        config=config, lane=3, outcome="pending").order_by("id").values_list("id", flat=True)[:400])


@pytest.mark.postgres_only
def test_a_batch_is_read_whole_in_one_query_down_the_open_queue(receiver):
    """With keys that do not repeat, the batch is one query (its keys' earlier open records
    a second), walking the open-queue index; nothing is read again by primary key."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.seed import records

    config = make_config(receiver.url)
    records(config.pk, 40_000, "burst", outcome="'pending'")
    with CaptureQueriesContext(connection) as queries:
        batch, after = delivery.next_batch(config.pk, 3, 100)
    first = list(PushRecord.objects.filter(config=config, lane=3).order_by("id")[:100])
    assert batch == first and after == first[-1].pk
    assert [record.payload for record in batch] == [record.payload for record in first]
    assert len(queries.captured_queries) == 2
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + queries.captured_queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "push_open_queue" in plan


@pytest.mark.postgres_only
def test_records_of_a_task_are_found_by_an_index_that_holds_only_task_records(receiver):
    """Most records come from events and have no task: the task index holds no entry for
    them (none at their insert, none at each delivered try), yet serves every lookup by task
    — a task's records, any task's, and the SET NULL when a task is deleted."""
    from django.db import connection

    from bench.seed import records
    from pushconfig.models import PushTask

    config = make_config(receiver.url)
    records(config.pk, 20_000, "burst", outcome="'pending'", analyze=False)
    task = PushTask.objects.create(mode="history", config=config)
    PushRecord.objects.filter(pk__in=PushRecord.objects.order_by("id").values("id")[:50]
                              ).update(task=task)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pushconfig_pushrecord")
        cursor.execute("SELECT count(*) FROM pushconfig_pushrecord WHERE task_id IS NOT NULL")
        assert cursor.fetchone() == (50,)
        cursor.execute("SELECT pg_relation_size('push_task') < pg_relation_size('push_event_id') / 20")
        assert cursor.fetchone() == (True,)
    assert "push_task" in PushRecord.objects.filter(task=task).explain()
    assert "push_task" in delivery.open_records(config.pk).filter(task__isnull=False).explain()
    task.delete()
    assert not PushRecord.objects.filter(task__isnull=False).exists()
    assert PushRecord.objects.count() == 20_000


def test_the_heartbeat_renews_the_lease_once_a_third_of_it_passed_and_says_when_it_is_lost(
        settings):
    import time

    settings.PUSH_LANE_LEASE_SECONDS = 0.6
    config = make_config("http://127.0.0.1:9")
    lanes = delivery._lease(config.pk, [0, 1], "me")

    def leased_until():
        return DeliveryLane.objects.get(config=config, lane=0).leased_until

    first = leased_until()
    beat = delivery._Heartbeat(config.pk, lanes, "me")
    assert beat() and leased_until() == first  # too early: nothing written
    time.sleep(0.25)
    assert beat() and leased_until() > first
    DeliveryLane.objects.filter(config=config, lane=1).update(holder="another worker")
    renewed = leased_until()
    assert beat() and leased_until() == renewed  # not due again yet: not noticed
    time.sleep(0.25)
    assert not beat() and not beat()  # lost: the batch stops
