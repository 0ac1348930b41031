"""Fresh planner statistics for the tables the console writes in bulk.

PostgreSQL plans from statistics that autovacuum refreshes when a tenth of a table has
changed, at most once a minute per table, and not at all where autovacuum is off. A burst
(a first sync, a history re-push, a catch-up after an outage) outruns that: a push log
analysed while small or while all pending makes the planner believe the open queue is
tiny, and it walks that queue, or the whole table, where an index lookup of a handful of
rows was meant; each batch then costs more as the log grows.

So the bulk writers (`bulk_insert`, `update_rows`) note the tables they touch, and at most
every CHECK_SECONDS per process, after their transaction commits, compare what changed
since each table's last ANALYZE with its size; a table past the threshold is analysed by a
task on the default queue, one table at a time and one run at a time (ANALYZE samples at
most 30,000 rows: ~0.1-0.3 s). On other databases this does nothing."""
import logging
import time

from django.db import connection, transaction

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
# Analyse when this many rows changed since the last ANALYZE, and at least this share of
# the rows it counted then: a burst from empty is analysed at 1,000 rows, then each time it
# grew by half again (about a dozen times on the way to 100,000 rows).
MIN_CHANGED, SHARE_CHANGED = 1000, 0.5
LOCK = 0x5374617473  # pg advisory lock key: one refresh at a time

_touched = set()
_checked_at = 0.0


def wrote(table):
    """A bulk writer changed `table` (inside its transaction, if any)."""
    global _checked_at
    if connection.vendor != "postgresql":
        return
    _touched.add(table)
    now = time.monotonic()
    if now - _checked_at < CHECK_SECONDS:
        return
    _checked_at = now
    tables = sorted(_touched)
    _touched.clear()
    transaction.on_commit(lambda: _check(tables), robust=True)


def stale(tables):
    """Those of `tables` whose statistics are behind their changes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.schemaname = current_schema() AND s.relname = ANY(%s) "
            "AND s.n_mod_since_analyze >= GREATEST(%s, %s * GREATEST(c.reltuples, 0)) "
            "ORDER BY s.relname", [list(tables), MIN_CHANGED, SHARE_CHANGED])
        return [name for (name,) in cursor.fetchall()]


def _check(tables):
    found = stale(tables)
    if not found:
        return
    from .tasks import refresh_statistics

    try:
        refresh_statistics.apply_async((found,), retry=False)
    except Exception:  # the broker is away: autovacuum, or the next check, gets to it
        log.warning("broker unavailable: statistics of %s not refreshed", found, exc_info=True)


def refresh(tables):
    """ANALYZE those of `tables` still stale; returns them. Skips if another run is busy
    (it will have analysed them, or the next check sends them again)."""
    done = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK])
        if not cursor.fetchone()[0]:
            return done
        try:
            for table in stale(tables):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
                done.append(table)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK])
    return done
