"""Concurrent calls on PostgreSQL: a repeat is stored once, state ends at the newest event."""
import threading

import pytest
from django.db import connection

from integration.events import TodoEventSerializer
from integration.inbox import ingest_todo_events
from integration.models import InboundEvent, TodoItem

from .helpers import todo_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


def validated(**overrides):
    serializer = TodoEventSerializer(data=todo_event(**overrides))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def run_concurrently(calls):
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def worker(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


def test_it_stores_an_event_sent_by_eight_callers_at_once_exactly_once():
    event = validated(event_id="race")
    results, errors = run_concurrently([lambda: ingest_todo_events([(0, dict(event))])] * 8)
    assert errors == []
    outcomes = sorted(r[0].outcome for r in results)
    assert outcomes == ["accepted"] + ["duplicate"] * 7
    assert InboundEvent.objects.filter(event_id="race").count() == 1
    assert TodoItem.objects.count() == 1


def test_it_ends_at_the_newest_state_whatever_order_concurrent_calls_commit_in():
    events = [validated(event_id=f"r{i}", data_set="done" if i == 7 else "todo",
                        business_status="approve" if i == 7 else "arrive",
                        occurred_at=f"2026-11-20T09:0{i}:00+08:00") for i in range(8)]
    calls = [lambda e=e: ingest_todo_events([(0, e)]) for e in reversed(events)]
    results, errors = run_concurrently(calls)
    assert errors == []
    item = TodoItem.objects.get()
    assert (item.data_set, item.last_event_id) == ("done", "r7")
    assert InboundEvent.objects.count() == 8
