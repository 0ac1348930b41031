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
most 30,000 rows: ~0.1-1 s). On other databases this does nothing.

ANALYZE sorts its sample of every column, and the wide JSON and text ones (payloads, request
bodies, answers) cost the most — jsonb compares value by value — though no query filters,
groups or sorts on them: the tables' migrations turn their statistics off
(`without_statistics`), which made each refresh of the push log 1.8×, of its attempts 3.7×
and of the inbox 2.3× cheaper."""
import logging
import time

from django.db import connection, migrations, transaction

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
# After a failed publish (broker away): no check for this long, so that writers do not pay
# the broker's connect timeout every CHECK_SECONDS. Autovacuum still runs meanwhile.
BROKER_BACKOFF_SECONDS = 60.0
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
    transaction.on_commit(_check, robust=True)


def stale(tables):
    """Those of `tables` whose statistics are behind their changes (and that this database
    user may analyse: the owner's; another user's ANALYZE only warns and skips)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.schemaname = current_schema() AND s.relname = ANY(%s) "
            "AND pg_has_role(c.relowner, 'USAGE') "
            "AND s.n_mod_since_analyze >= GREATEST(%s, %s * GREATEST(c.reltuples, 0)) "
            "ORDER BY s.relname", [list(tables), MIN_CHANGED, SHARE_CHANGED])
        return [name for (name,) in cursor.fetchall()]


def _check():
    global _checked_at
    # Taken here, after the commit: a rolled-back write leaves its tables for the next one.
    tables = sorted(_touched)
    _touched.clear()
    found = stale(tables)
    if not found:
        return
    from .tasks import refresh_statistics

    try:
        refresh_statistics.apply_async((found,), retry=False)
    except Exception:  # the broker is away: autovacuum, or a later check, gets to it
        _checked_at = time.monotonic() + BROKER_BACKOFF_SECONDS
        log.warning("broker unavailable: statistics of %s not refreshed", found, exc_info=True)


def refresh(tables):
    """ANALYZE those of `tables` still stale; returns them. Skips if another run is busy
    (it will have analysed them, or the next check sends them again), and skips a table
    another command holds (a VACUUM, an index build) rather than wait for it."""
    done = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK])
        if not cursor.fetchone()[0]:
            return done
        for table in stale(tables):
            cursor.execute(f"ANALYZE (SKIP_LOCKED) {connection.ops.quote_name(table)}")
            done.append(table)
    return done


def without_statistics(columns):
    """A migration operation: no planner statistics for `columns` ({"app.Model": [field
    names]}) on PostgreSQL (`SET STATISTICS 0`; autovacuum's ANALYZE skips them too); back to
    the default when reversed. Elsewhere nothing."""
    def set_target(target):
        def run(apps, schema_editor):
            if schema_editor.connection.vendor != "postgresql":
                return
            quote = schema_editor.quote_name
            for label, names in columns.items():
                model = apps.get_model(label)
                alter = ", ".join(f"ALTER COLUMN {quote(model._meta.get_field(name).column)} "
                                  f"SET STATISTICS {target}" for name in names)
                schema_editor.execute(f"ALTER TABLE {quote(model._meta.db_table)} {alter}")
        return run
    return migrations.RunPython(set_target(0), set_target(-1), elidable=False)
