"""Fewer lane tasks for small ingest calls (issue 9, figure 3): a call's lanes with few new
records go to at most SMALL_GROUPS tasks, each leasing its lanes together and sending their
records in one batch; lanes with a batch's worth each keep a task of their own."""
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from pushconfig import delivery
from pushconfig.models import DeliveryLane, PushRecord
from tests.integration.helpers import todo_event

from .conftest import make_config
from .conftest import post_events as post

pytestmark = pytest.mark.django_db


def test_lanes_with_few_records_go_together_and_busy_lanes_alone():
    small = Counter({(1, 0): 3, (1, 4): 1, (1, 5): 2, (1, 7): 1, (2, 3): 1})
    # Always the same lanes together (lane % SMALL_GROUPS), so tasks never half overlap.
    assert delivery.SMALL_GROUPS == 2
    assert delivery._groups(small) == [(1, [0, 4]), (1, [5, 7]), (2, 3)]
    big = Counter({(1, lane): 125 for lane in range(8)})
    assert delivery._groups(big) == [(1, lane) for lane in range(8)]
    mixed = Counter({(1, 0): 150, (1, 2): 3, (1, 4): 1})
    assert delivery._groups(mixed) == [(1, 0), (1, [2, 4])]
    # Without counts (the sweeper, a re-push), one task per lane as before.
    assert delivery._groups({(1, 4), (1, 2)}) == [(1, 2), (1, 4)]


def test_a_small_call_enqueues_few_tasks(monkeypatch):
    sent = []
    monkeypatch.setattr("pushconfig.tasks.deliver_lane.apply_async",
                        lambda args, **kw: sent.append(args))
    delivery.enqueue_lanes(Counter({(1, 0): 1, (1, 6): 1}))
    assert sent == [(1, [0, 6])]


def _spread(n):
    """n todo events of different receivers (different keys, so different lanes)."""
    return [todo_event(receiver=f"u{i}", occurred_at=f"2026-11-20T09:{i:02d}:00+08:00")
            for i in range(n)]


def test_one_run_delivers_every_lane_it_was_given(api, receiver):  # noqa: F811
    config = make_config(receiver.url)
    post(api, *_spread(12))
    lanes = sorted(set(PushRecord.objects.values_list("lane", flat=True)))
    assert len(lanes) > 1
    run = delivery.run_lane(config.pk, lanes)
    assert run.sent == 12 and len(receiver.requests) == 12
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}
    assert not DeliveryLane.objects.filter(config=config, leased_until__isnull=False).exists()


def test_a_key_keeps_its_order_when_lanes_go_together(api, receiver):  # noqa: F811
    config = make_config(receiver.url)
    done = todo_event(data_set="done", business_status="approve", receiver="u1",
                      occurred_at="2026-11-20T09:30:00+08:00")
    post(api, *_spread(6), done)
    lanes = sorted(set(PushRecord.objects.values_list("lane", flat=True)))
    while delivery.run_lane(config.pk, lanes).more:
        pass
    u1 = [r.json()["isremark"] for r in receiver.requests if r.json()["receiver"] == "u1"]
    assert u1 == ["0", "2"]


def test_lanes_another_worker_holds_are_left_to_it(api, receiver):  # noqa: F811
    config = make_config(receiver.url)
    post(api, *_spread(12))
    lanes = sorted(set(PushRecord.objects.values_list("lane", flat=True)))
    busy = lanes[0]
    DeliveryLane.objects.create(config=config, lane=busy, holder="other",
                                leased_until=timezone.now() + timedelta(minutes=1))
    run = delivery.run_lane(config.pk, lanes)
    waiting = PushRecord.objects.filter(lane=busy)
    assert run.sent == 12 - waiting.count()
    assert set(waiting.values_list("outcome", flat=True)) == {"pending"}
    assert DeliveryLane.objects.get(config=config, lane=busy).holder == "other"
    # Every lane held elsewhere: nothing to do here, as for a single lane.
    DeliveryLane.objects.filter(config=config).update(
        holder="other", leased_until=timezone.now() + timedelta(minutes=1))
    assert delivery.run_lane(config.pk, lanes) is None
