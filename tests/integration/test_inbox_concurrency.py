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


def _slow_calls(monkeypatch, runs):
    """Each call's transaction lingers after its claim (the directory lookups sleep), so two
    calls are in flight together; `runs` counts the call bodies that reached the writes."""
    import time

    from integration import inbox

    real_directory, real_save = inbox._Directory, inbox._save_requests

    def slow_directory(events):
        time.sleep(0.3)
        return real_directory(events)

    def counted_save(*args, **kwargs):
        runs.append(1)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(inbox, "_Directory", slow_directory)
    monkeypatch.setattr(inbox, "_save_requests", counted_save)


@pytest.mark.parametrize("limit", [64, 0])
def test_two_calls_bringing_the_same_new_request_take_turns_instead_of_redoing_one(
        monkeypatch, limit):
    """An OA sends a new request's receivers as they come: two calls in flight at once carry
    the same new request. They take turns (the second finds the request stored) instead of
    both writing it and the second doing its whole call again; above the claim limit the
    retry still ends in the same state."""
    from integration import inbox
    from integration.models import Request

    monkeypatch.setattr(inbox, "CLAIM_LIMIT", limit)
    runs = []
    _slow_calls(monkeypatch, runs)
    first = validated(event_id="a", request_id="new-1", receiver="lisi",
                      occurred_at="2026-11-20T09:01:00+08:00")
    second = validated(event_id="b", request_id="new-1", receiver="wangwu", node_name="复核",
                       occurred_at="2026-11-20T09:02:00+08:00")
    results, errors = run_concurrently([lambda: ingest_todo_events([(0, dict(first))]),
                                        lambda: ingest_todo_events([(0, dict(second))])])
    assert errors == []
    assert sorted(r[0].outcome for r in results) == ["accepted", "accepted"]
    assert len(runs) == (2 if limit else 3)  # with no claim, one call ran twice
    request = Request.objects.get(request_id="new-1")
    assert request.current_node == "复核"  # the newest event's, whichever committed first
    assert sorted(TodoItem.objects.values_list("receiver", flat=True)) == ["lisi", "wangwu"]


def test_a_repeated_event_in_flight_is_found_a_duplicate_without_a_retry(monkeypatch):
    runs = []
    _slow_calls(monkeypatch, runs)
    event = validated(event_id="twice", request_id="new-2")
    results, errors = run_concurrently([lambda: ingest_todo_events([(0, dict(event))])] * 2)
    assert errors == []
    assert sorted(r[0].outcome for r in results) == ["accepted", "duplicate"]
    assert len(runs) == 1 and InboundEvent.objects.filter(event_id="twice").count() == 1


def test_a_call_of_many_requests_takes_no_claims():
    """Each claim holds a slot of the server's shared lock table: an import of many requests
    relies on the retry instead."""
    from django.db import transaction

    from integration import inbox

    def claims(names):
        with transaction.atomic(), connection.cursor() as cursor:
            inbox._claim_requests([(0, {"request_id": name}) for name in names])
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                           "AND classid = %s AND pid = pg_backend_pid()", [inbox._CLAIM_SPACE])
            return cursor.fetchone()[0]

    assert claims(["r1", "r2", "r2", "r3"]) == 3
    assert claims([f"r{n}" for n in range(inbox.CLAIM_LIMIT)]) == inbox.CLAIM_LIMIT
    assert claims([f"r{n}" for n in range(inbox.CLAIM_LIMIT + 1)]) == 0
