"""The circuit breaker: opens after a run of transient failures, probes after a cool-down,
closes on an answer and lets the backlog out in order; one fuse record per outage."""
from datetime import timedelta

import pytest
from django.utils import timezone

from pushconfig import breaker, delivery
from pushconfig.models import Breaker, FuseRecord, PushRecord
from pushconfig.signals import fuse_changed
from pushconfig.transports import Delivery
from tests.integration.helpers import todo_event
from tests.receivers import Answer

from .conftest import ECOLOGY_OK, deliver_all, make_config, post_events

pytestmark = pytest.mark.django_db
DOWN = Answer(503, "down")
UP = Answer(body=ECOLOGY_OK)
REFUSED = Answer(body={**ECOLOGY_OK, "operResult": "0", "message": "接收人不存在"})


def todos(n, start=0):
    return [todo_event(receiver=f"u{i}", request_id=f"R{i}") for i in range(start, start + n)]


def state(config):
    return Breaker.objects.get(config=config)


def probe_now(config):
    Breaker.objects.filter(config=config).update(probe_at=timezone.now() - timedelta(seconds=1))


@pytest.fixture
def signals():
    seen = []

    def receiver(sender, fuse, event, **kwargs):
        seen.append((fuse.pk, event))

    fuse_changed.connect(receiver)
    yield seen
    fuse_changed.disconnect(receiver)


def test_it_opens_after_the_threshold_of_transient_failures_and_sends_nothing_more(
        api, receiver, django_capture_on_commit_callbacks, signals):
    config = make_config(receiver.url, fuse_threshold=3)
    receiver.answer = DOWN
    post_events(api, *todos(6))
    with django_capture_on_commit_callbacks(execute=True):
        deliver_all(config)
    assert state(config).state == "open"
    fuse = FuseRecord.objects.get(config=config)
    assert fuse.create_time and fuse.recover_time is None and "503" in fuse.reason
    assert fuse.backlog == 6
    calls = len(receiver.requests)
    assert calls == 3  # the breaker stopped the rest
    post_events(api, *todos(2, start=10))
    deliver_all(config)
    assert len(receiver.requests) == calls
    assert PushRecord.objects.filter(config=config, outcome="pending").count() == 5
    assert signals == [(fuse.pk, "open")]


def test_permanent_failures_and_answers_do_not_count(api, receiver):
    config = make_config(receiver.url, fuse_threshold=2)
    receiver.answer = REFUSED
    post_events(api, *todos(5))
    deliver_all(config)
    assert state(config).state == "closed"
    assert not FuseRecord.objects.exists()


def test_an_answer_resets_the_run_of_failures():
    from pushconfig.models import PushConfig

    config = PushConfig.objects.create(identifier="x", system_name="x", server_url="http://x",
                                       push_type="ecology", fuse_threshold=3)
    fail, ok = Delivery(False, "timeout"), Delivery(True)
    breaker.record(config, [fail, fail])
    breaker.record(config, [ok, fail])
    assert state(config).failures == 1
    breaker.record(config, [fail])
    assert state(config).state == "closed"
    breaker.record(config, [fail])
    assert state(config).state == "open"


def test_it_probes_after_the_cool_down_and_closes_then_delivers_the_backlog_in_order(
        api, receiver, django_capture_on_commit_callbacks, signals):
    config = make_config(receiver.url, fuse_threshold=2)
    receiver.answer = DOWN
    events = []
    for i in range(4):
        events += [todo_event(receiver=f"u{i}", occurred_at="2026-11-20T09:00:00+08:00"),
                   todo_event(receiver=f"u{i}", data_set="done", business_status="approve",
                              occurred_at="2026-11-20T09:05:00+08:00")]
    post_events(api, *events)
    deliver_all(config)
    assert state(config).state == "open"
    receiver.requests.clear()
    receiver.answer = UP
    deliver_all(config)
    assert receiver.requests == []  # cooling down: nothing sent
    probe_now(config)
    PushRecord.objects.filter(config=config).update(next_attempt_at=None)
    PushRecord.objects.filter(config=config, outcome="failed").update(outcome="pending")
    with django_capture_on_commit_callbacks(execute=True):
        deliver_all(config)
    assert state(config).state == "closed"
    fuse = FuseRecord.objects.get(config=config)
    assert fuse.recover_time is not None
    assert set(PushRecord.objects.filter(config=config).values_list("outcome", flat=True)) == {"success"}
    order = {}
    for got in receiver.requests:
        order.setdefault(got.json()["receiver"], []).append(got.json()["isremark"])
    assert all(marks == ["0", "2"] for marks in order.values()), order
    assert signals == [(fuse.pk, "recover")]


def test_a_failed_probe_opens_the_breaker_again(api, receiver):
    config = make_config(receiver.url, fuse_threshold=1, fuse_cooldown=30)
    receiver.answer = DOWN
    post_events(api, *todos(3))
    deliver_all(config)
    probe_now(config)
    PushRecord.objects.filter(config=config).update(next_attempt_at=timezone.now())
    before = len(receiver.requests)
    deliver_all(config)
    assert len(receiver.requests) == before + 1  # exactly one probe
    current = state(config)
    assert current.state == "open" and current.probe_at > timezone.now() + timedelta(seconds=20)
    assert FuseRecord.objects.get().probes == 1


def test_only_one_worker_takes_the_probe(api, receiver):
    config = make_config(receiver.url, fuse_threshold=1)
    receiver.answer = DOWN
    post_events(api, *todos(1))
    deliver_all(config)
    probe_now(config)
    assert breaker.admit(config) == breaker.PROBE
    assert breaker.admit(config) == breaker.WAIT


def test_the_sweeper_leaves_a_cooling_breaker_alone_and_wakes_it_for_the_probe(api, receiver):
    config = make_config(receiver.url, fuse_threshold=1)
    receiver.answer = DOWN
    post_events(api, *todos(2))
    deliver_all(config)
    PushRecord.objects.filter(config=config).update(next_attempt_at=timezone.now())
    assert delivery.sweep() == 0
    probe_now(config)
    from config.celery import app

    receiver.answer = UP
    app.conf.task_always_eager = True
    try:
        assert delivery.sweep() >= 1
    finally:
        app.conf.task_always_eager = False
    assert state(config).state == "closed"
