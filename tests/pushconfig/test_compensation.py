"""Scheduled compensation: which records a run re-pushes (failed transient with retries used
up, unanswered pending, after the wait, under the re-push count; never permanent failures,
never answered or filtered records), oldest first and in batches, each key in order, claimed
once even with two runs at once; and the beat task called as beat calls it."""
import itertools
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from pushconfig import compensation, delivery
from pushconfig.models import Breaker, PushAttempt, PushRecord
from pushconfig.tasks import compensate
from tests.integration.helpers import todo_event
from tests.receivers import Answer

from .conftest import ECOLOGY_OK, deliver_all, in_flight, make_config, post_events

pytestmark = pytest.mark.django_db
URL = "http://127.0.0.1:9"
_seq = itertools.count(1)


@pytest.fixture
def lanes(monkeypatch):
    """The lanes a run hands to workers (instead of the broker)."""
    handed = []
    monkeypatch.setattr(compensation, "enqueue_lanes", lambda pairs: handed.extend(pairs))
    return handed


def compensating(url=URL, **overrides):
    values = {"compensation_enabled": True, "compensation_cron": "*/5 * * * *",
              "compensation_retries": 3, "compensation_wait": 5}
    values.update(overrides)
    return make_config(url, **values)


def record(config, receiver, outcome="failed", minutes_ago=10, tried_minutes_ago=None, **fields):
    """A push record of `receiver`'s key, triggered `minutes_ago`; a failed one was answered
    `tried_minutes_ago` (default: as old) and has its automatic retries used up."""
    n = next(_seq)
    now = timezone.now()
    values = {"config": config, "event_id": f"c-{n}", "idempotency_key": f"{config.pk}:c-{n}",
              "lane": delivery.lane_of("R1", receiver, ""), "request_id": "R1",
              "receiver": receiver, "data_set": "todo", "business_status": "arrive",
              "payload": {}, "outcome": outcome}
    if outcome in ("failed", "success", "ignored", "intercepted"):
        tried = minutes_ago if tried_minutes_ago is None else tried_minutes_ago
        values.update(attempts=5, pushed_at=now - timedelta(minutes=tried))
    values.update(fields)
    made = PushRecord.objects.create(**values)
    PushRecord.objects.filter(pk=made.pk).update(created_at=now - timedelta(minutes=minutes_ago))
    return made


def six_minutes_ago(records):
    """Triggered and last answered six minutes ago: past a five-minute wait."""
    then = timezone.now() - timedelta(minutes=6)
    records.update(created_at=then, pushed_at=then)


def counts(*records):
    return [PushRecord.objects.get(pk=r.pk).compensations for r in records]


# -- what a run picks --------------------------------------------------------------------------
def test_it_picks_exactly_the_records_that_need_a_re_push(lanes):
    config = compensating()
    now = timezone.now()
    picked = [
        record(config, "exhausted"),                              # failed, retries used up
        record(config, "never-tried", outcome="pending"),         # unanswered, waited
        record(config, "interrupted", outcome="pending", attempts=1),
        record(config, "twice", compensations=2),                 # one re-push left of 3
    ]
    PushAttempt.objects.create(record=picked[2], number=1, started_at=now - timedelta(minutes=9),
                               finished_at=now - timedelta(minutes=7), outcome="failed",
                               error_class="Interrupted")
    sending = record(config, "in-flight", outcome="pending", attempts=1)
    in_flight(sending, started_at=now - timedelta(seconds=10))
    left = [
        record(config, "recent-failure", tried_minutes_ago=2),   # waited 2 of 5 minutes
        record(config, "recent-pending", outcome="pending", minutes_ago=1),
        record(config, "permanent", permanent=True),
        record(config, "retrying", next_attempt_at=now + timedelta(minutes=3)),
        record(config, "overdue-retry", next_attempt_at=now - timedelta(minutes=9)),
        record(config, "success", outcome="success"),
        record(config, "ignored", outcome="ignored"),
        record(config, "intercepted", outcome="intercepted"),
        record(config, "used-up", compensations=3),
        sending,
        record(make_config(URL, identifier="other", compensation_enabled=True,
                           compensation_cron="*/5 * * * *"), "other-config"),
    ]
    result = compensation.run(config.pk)
    assert (result.failed, result.pending, result.skipped) == (2, 2, "")
    assert counts(*picked) == [1, 1, 1, 3]
    assert counts(*left) == [0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0]
    reopened = PushRecord.objects.get(pk=picked[0].pk)
    assert (reopened.outcome, reopened.next_attempt_at is not None) == ("failed", True)
    assert reopened in delivery.open_records(config.pk)  # the lane workers will send it
    assert set(lanes) == {(config.pk, r.lane) for r in picked}
    assert result.lanes == len(set(lanes))


def test_it_keeps_each_key_in_order_skipping_what_would_arrive_late(lanes):
    config = compensating()
    now = timezone.now()
    # lisi's todo failed for good, then their done went through: re-sending the todo now
    # would bring back a finished todo.
    superseded = record(config, "lisi", minutes_ago=30)
    record(config, "lisi", outcome="success", minutes_ago=20)
    # wangwu's first record waits for an automatic retry: the later one waits behind it.
    record(config, "wangwu", next_attempt_at=now + timedelta(minutes=1), minutes_ago=30)
    behind = record(config, "wangwu", outcome="pending", minutes_ago=20)
    # zhaoliu's first record is exhausted and the second unanswered: both go, first first.
    first = record(config, "zhaoliu", minutes_ago=30)
    second = record(config, "zhaoliu", outcome="pending", minutes_ago=20)
    result = compensation.run(config.pk)
    assert result.claimed == 2
    assert counts(superseded, behind, first, second) == [0, 0, 1, 1]


def test_it_claims_the_oldest_first_in_batches(lanes, monkeypatch):
    config = compensating()
    made = [record(config, f"u{i}", minutes_ago=60 - i) for i in range(7)]
    monkeypatch.setattr(compensation, "MAX_BATCHES", 2)
    result = compensation.run(config.pk, batch=3)
    assert result.claimed == 6
    assert counts(*made) == [1, 1, 1, 1, 1, 1, 0]  # the newest waits for the next run
    assert compensation.run(config.pk, batch=3).claimed == 1


def test_it_claims_a_record_once_until_it_was_tried_again_and_stops_at_the_count(lanes):
    config = compensating(compensation_retries=2)
    failed = record(config, "lisi")
    assert compensation.run(config.pk).claimed == 1
    assert compensation.run(config.pk).claimed == 0  # claimed, not yet tried: not again
    for attempt in range(2):
        # The lane worker tried and failed again; the wait since then has passed.
        PushRecord.objects.filter(pk=failed.pk).update(
            next_attempt_at=None, pushed_at=timezone.now() - timedelta(minutes=6))
        expected = 1 if attempt == 0 else 0
        assert compensation.run(config.pk).claimed == expected
    assert counts(failed) == [2]


@pytest.mark.parametrize("change, reason", [
    ({"enabled": False}, "config disabled"),
    ({"compensation_enabled": False}, "compensation off"),
])
def test_it_does_nothing_while_the_config_or_compensation_is_off(lanes, change, reason):
    config = compensating()
    failed = record(config, "lisi")
    for name, value in change.items():
        setattr(config, name, value)
    config.save()
    result = compensation.run(config.pk)
    assert (result.claimed, result.skipped) == (0, reason)
    assert counts(failed) == [0] and lanes == []


@pytest.mark.parametrize("state", ["open", "half_open"])
def test_it_does_nothing_while_the_breaker_is_not_closed(lanes, state):
    config = compensating()
    failed = record(config, "lisi")
    Breaker.objects.create(config=config, state=state,
                           probe_at=timezone.now() + timedelta(minutes=1))
    assert compensation.run(config.pk).skipped == "breaker open"
    assert counts(failed) == [0]
    Breaker.objects.filter(config=config).update(state="closed", probe_at=None)
    assert compensation.run(config.pk).claimed == 1


def test_it_answers_a_run_for_a_config_that_is_gone():
    assert compensation.run(987654).skipped == "no config"


# -- against a real receiver -------------------------------------------------------------------
def test_it_redelivers_after_an_outage_each_key_in_order_and_once(api, receiver, settings):
    settings.PUSH_MAX_ATTEMPTS = 1  # the automatic retries give up at once
    config = compensating(receiver.url, fuse_threshold=100)
    receiver.answer = Answer(503, "down")
    events = []
    for who in ("lisi", "wangwu"):
        events.append(todo_event(receiver=who, occurred_at="2026-11-20T09:01:00+08:00"))
        events.append(todo_event(receiver=who, data_set="done", business_status="approve",
                                 occurred_at="2026-11-20T09:02:00+08:00"))
    post_events(api, *events)
    deliver_all(config)
    assert set(PushRecord.objects.values_list("outcome", "next_attempt_at")) == {("failed", None)}
    receiver.requests.clear()
    receiver.answer = Answer(body=ECOLOGY_OK)
    six_minutes_ago(PushRecord.objects.all())

    result = compensate.apply(args=[config.pk]).get()  # as beat calls it
    assert (result["failed"], result["pending"], result["skipped"]) == (4, 0, "")
    deliver_all(config)
    seen = {}
    for got in receiver.requests:
        body = got.json()
        seen.setdefault(body["receiver"], []).append(body["isremark"])
    assert seen == {"lisi": ["0", "2"], "wangwu": ["0", "2"]}  # todo, then done; once each
    assert set(PushRecord.objects.values_list("outcome", "compensations")) == {("success", 1)}
    assert compensate.apply(args=[config.pk]).get()["claimed"] == 0


def test_it_tries_once_per_compensation_and_leaves_permanent_failures_alone(
        api, receiver, settings):
    settings.PUSH_MAX_ATTEMPTS = 2
    config = compensating(receiver.url, fuse_threshold=100, compensation_retries=1)
    refused = {**ECOLOGY_OK, "operResult": "0", "message": "接收人不存在"}
    receiver.answer = lambda got: (Answer(body=refused) if got.json()["receiver"] == "ghost"
                                   else Answer(502, "bad gateway"))
    post_events(api, todo_event(receiver="lisi"), todo_event(receiver="ghost"))
    deliver_all(config)
    PushRecord.objects.filter(next_attempt_at__isnull=False).update(
        next_attempt_at=timezone.now())
    deliver_all(config)  # the automatic retry, then lisi's record is exhausted
    six_minutes_ago(PushRecord.objects.all())
    calls = len(receiver.requests)
    assert compensate.apply(args=[config.pk]).get()["claimed"] == 1
    deliver_all(config)
    lisi = PushRecord.objects.get(receiver="lisi")
    assert (lisi.outcome, lisi.attempts, lisi.compensations, lisi.next_attempt_at) == (
        "failed", 3, 1, None)
    ghost = PushRecord.objects.get(receiver="ghost")
    assert (ghost.permanent, ghost.compensations, ghost.attempts) == (True, 0, 1)
    assert len(receiver.requests) == calls + 1
    six_minutes_ago(PushRecord.objects.all())
    assert compensate.apply(args=[config.pk]).get()["claimed"] == 0  # the count is used up


# -- two runs at once --------------------------------------------------------------------------
@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_it_claims_each_record_once_when_two_runs_race(monkeypatch):
    monkeypatch.setattr(compensation, "enqueue_lanes", lambda pairs: None)
    config = compensating()
    now = timezone.now()
    PushRecord.objects.bulk_create(
        PushRecord(config=config, event_id=f"race-{n}", idempotency_key=f"{config.pk}:race-{n}",
                   lane=n % 8, request_id=f"R{n}", receiver=f"u{n}", data_set="todo",
                   business_status="arrive", payload={}, outcome="failed" if n % 2 else "pending",
                   attempts=1, pushed_at=now - timedelta(minutes=10) if n % 2 else None)
        for n in range(600))
    PushRecord.objects.update(created_at=now - timedelta(minutes=10))
    start, results, errors = threading.Barrier(2), [], []

    def run():
        try:
            start.wait()
            results.append(compensation.run(config.pk, batch=50))
        except Exception as exc:  # asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(results) == 2
    assert sum(r.claimed for r in results) == 600
    assert set(PushRecord.objects.values_list("compensations", flat=True)) == {1}
