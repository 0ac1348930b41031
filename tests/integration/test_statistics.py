"""Planner statistics kept up with bursts (integration/statistics.py)."""
import time
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integration import statistics
from integration.bulk import bulk_insert
from integration.models import InboundEvent
from tests.integration.helpers import inbound_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]
TABLE = InboundEvent._meta.db_table


@pytest.fixture(autouse=True)
def _no_autovacuum():
    """An autovacuum analysing these tables between two steps would change what they see."""
    tables = [TABLE, "pushconfig_pushrecord"]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
    yield
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")


def flush_stats():
    """Make this backend's counts visible in pg_stat_user_tables (PostgreSQL 15+)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT 1")


def counted_rows():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [TABLE])
        return cursor.fetchone()[0]


def events(n, tag):
    return [inbound_event(f"{tag}-{i}", receiver=f"u{i}") for i in range(n)]


def test_a_burst_is_analysed_once_it_outgrows_its_statistics(monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")  # empty
        cursor.execute("ANALYZE pushconfig_pushrecord")  # untouched here
    bulk_insert(InboundEvent, events(statistics.MIN_CHANGED - 10, "a"))
    flush_stats()
    assert statistics.stale([TABLE]) == []  # under the floor
    bulk_insert(InboundEvent, events(1500, "b"))
    flush_stats()
    assert statistics.stale([TABLE, "pushconfig_pushrecord"]) == [TABLE]
    assert statistics.refresh([TABLE]) == [TABLE]
    assert counted_rows() == statistics.MIN_CHANGED - 10 + 1500
    flush_stats()
    assert statistics.stale([TABLE]) == []
    # Next time only after it grew by half again.
    bulk_insert(InboundEvent, events(1000, "c"))
    flush_stats()
    assert statistics.stale([TABLE]) == []
    bulk_insert(InboundEvent, events(300, "d"))
    flush_stats()
    assert statistics.stale([TABLE]) == [TABLE]


def test_the_bulk_writers_send_stale_tables_to_a_task_at_most_every_few_seconds(monkeypatch):
    from integration.tasks import refresh_statistics

    sent = []
    monkeypatch.setattr(refresh_statistics, "apply_async", lambda args, **kw: sent.append(args))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")
    monkeypatch.setattr(statistics, "_checked_at", time.monotonic())
    bulk_insert(InboundEvent, events(1200, "e"))  # within CHECK_SECONDS of the last check
    flush_stats()
    assert sent == []
    monkeypatch.setattr(statistics, "_checked_at", 0.0)
    bulk_insert(InboundEvent, events(10, "g"))
    assert sent == [([TABLE],)]
    refresh_statistics(*sent[0])
    flush_stats()
    assert statistics.stale([TABLE]) == []


def test_a_refresh_skips_while_another_runs():
    bulk_insert(InboundEvent, events(1200, "h"))
    flush_stats()
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [statistics.LOCK])
            assert statistics.refresh([TABLE]) == []
            cursor.execute("SELECT pg_advisory_unlock(%s)", [statistics.LOCK])
        assert statistics.refresh([TABLE]) == [TABLE]
    finally:
        other.close()


def _plan(call, columns):
    """EXPLAIN of the last query `call()` runs that selects `columns` of the push log."""
    with CaptureQueriesContext(connection) as queries:
        call()
    sql = [q["sql"] for q in queries.captured_queries
           if q["sql"].startswith(f'SELECT {columns} FROM "pushconfig_pushrecord"')][-1]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


KEYS = ", ".join(f'"pushconfig_pushrecord"."{c}" AS "{c}"'
                 for c in ("request_id", "receiver", "identity"))


def test_once_analysed_the_duplicate_check_reads_its_requests_not_every_sent_record():
    """What it is for: a push log analysed while empty, then 40,000 records sent (a history
    re-push, say). The ingest's duplicate check (todos of these keys sent before) walked
    every sent record of the config, which grows with the log; once analysed, it looks up
    its requests and receivers."""
    from bench.seed import records
    from pushconfig.pipeline import sent_todo_keys
    from tests.pushconfig.conftest import make_config

    config = make_config("http://127.0.0.1:9")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pushconfig_pushrecord")  # empty
    records(config.pk, 40_000, "burst", analyze=False)  # sent
    flush_stats()
    events = [SimpleNamespace(request_id=f"burst-r{n}", receiver=f"u{4 * n % 5000}",
                              payload={"identity": ""}) for n in range(5000, 5100)]

    def check():
        assert sent_todo_keys(config, events)  # these todos were sent

    assert "push_config_outcome" in _plan(check, KEYS)
    assert statistics.refresh(["pushconfig_pushrecord"]) == ["pushconfig_pushrecord"]
    assert "push_config_outcome" not in _plan(check, KEYS)


@pytest.mark.parametrize("analyze", [True, False], ids=["analysed", "burst unseen"])
def test_the_earlier_open_check_probes_each_key_among_open_records_only(analyze):
    """A batch's check for earlier open records of its keys, in any lane, half way through a
    backlog of 40,000 records: one probe of the open-request index per key, below that key's
    record — not every open record of every lane (the open queue), nor every record of its
    requests, sent or not, nor the open ones of the requests' other receivers — whatever the
    statistics say (a burst the planner has not seen must not turn it into a hash of the
    whole index)."""
    from bench.seed import records
    from pushconfig.delivery import _queue, blocked_by_earlier
    from tests.pushconfig.conftest import make_config

    config = make_config("http://127.0.0.1:9")
    records(config.pk, 200, "sent", outcome="'success'")  # what the statistics last saw
    records(config.pk, 40_000, "burst", outcome="'pending'", start=200, analyze=analyze)
    batch = list(_queue(config.pk, 3)[20_000 // 8:20_000 // 8 + 100])
    with CaptureQueriesContext(connection) as queries:
        assert blocked_by_earlier(config.pk, batch) == set()
    (sql,) = [q["sql"] for q in queries.captured_queries if "jsonb_to_recordset" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Nested Loop" in plan and "Hash" not in plan and "Sort" not in plan, plan
    assert "using push_open_request" in plan, plan
    assert "loops=100" in plan, plan  # a probe per key
    assert "Heap Fetches: 0" in plan or "Heap Fetches" not in plan, plan


def test_analyze_skips_the_wide_columns_no_query_filters_on():
    """The migrations turn off the statistics of payloads, bodies and answers (the costliest
    to sample and sort); the columns queries do filter on keep theirs."""
    from pushconfig.models import PushAttempt, PushRecord

    bulk_insert(InboundEvent, events(50, "w"))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")
        cursor.execute("SELECT attname FROM pg_stats WHERE tablename = %s", [TABLE])
        analysed = {name for (name,) in cursor.fetchall()}
        cursor.execute(
            "SELECT c.relname, a.attname FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid WHERE c.relname = ANY(%s) "
            "AND a.attnum > 0 AND a.attstattarget = 0 ORDER BY 1, 2",
            [[TABLE, "integration_request", PushRecord._meta.db_table,
              PushAttempt._meta.db_table]])
        skipped = cursor.fetchall()
    assert {"receiver", "request_id", "flags"} <= analysed
    assert "payload" not in analysed
    assert skipped == [(TABLE, "payload"), ("integration_request", "form_data"),
                       ("integration_request", "sign_opinions"),
                       (PushAttempt._meta.db_table, "request"),
                       (PushAttempt._meta.db_table, "response"),
                       (PushRecord._meta.db_table, "payload"),
                       (PushRecord._meta.db_table, "reason")]
