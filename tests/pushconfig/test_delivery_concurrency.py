"""Several workers at once on PostgreSQL: every record is sent once, each key in order."""
import json
import threading
from collections import defaultdict

import pytest
from django.conf import settings
from django.db import connection

from pushconfig.delivery import open_records, run_lane
from pushconfig.models import PushRecord
from tests.integration.helpers import todo_event

from .conftest import make_config

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


def test_it_sends_each_record_once_and_each_key_in_order_with_four_workers(api, receiver):
    config = make_config(receiver.url)
    events = []
    for n in range(60):
        events.append(todo_event(receiver=f"u{n}", occurred_at="2026-11-20T09:00:00+08:00"))
        events.append(todo_event(receiver=f"u{n}", data_set="done", business_status="approve",
                                 occurred_at="2026-11-20T09:01:00+08:00"))
        events.append(todo_event(receiver=f"u{n}", data_set="over", business_status="archive",
                                 occurred_at="2026-11-20T09:02:00+08:00"))
    r = api.post("/api/v1/todo-events/", json.dumps(events), content_type="application/json")
    assert r.json()["accepted"] == 180

    errors = []

    def worker():
        try:
            while open_records(config.pk).exists():
                for lane in range(settings.PUSH_LANES):
                    run_lane(config.pk, lane)
        except Exception as exc:  # asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    seen = defaultdict(list)
    for got in receiver.requests:
        body = got.json()
        seen[body["receiver"]].append(body["isremark"])
    assert len(receiver.requests) == 180
    assert all(marks == ["0", "2", "4"] for marks in seen.values()), dict(seen)
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}


def test_four_workers_against_a_dead_target_open_one_fuse(api, receiver):
    from pushconfig.models import Breaker, FuseRecord
    from tests.receivers import Answer

    config = make_config(receiver.url, fuse_threshold=3)
    receiver.answer = Answer(503, "down")
    events = [todo_event(receiver=f"u{n}", request_id=f"R{n}") for n in range(80)]
    api.post("/api/v1/todo-events/", json.dumps(events), content_type="application/json")
    errors = []

    def worker():
        try:
            for _ in range(3):
                for lane in range(settings.PUSH_LANES):
                    run_lane(config.pk, lane)
        except Exception as exc:  # asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert FuseRecord.objects.filter(config=config).count() == 1
    assert Breaker.objects.get(config=config).state == "open"
    # Workers may have had a batch in flight when it opened; after that nothing more went out.
    assert len(receiver.requests) < 80
    assert PushRecord.objects.filter(config=config, outcome="pending").exists()
