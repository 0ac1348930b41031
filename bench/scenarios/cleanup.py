"""Figure 6: cleanup (`pushconfig.cleanup.run`) of the config's eligible records (success,
ignored, pending older than keep days) with their attempts, the failed ones kept. Every SQL
statement is timed (connection.execute_wrapper): a chunk is its `SELECT … FOR UPDATE` and the
deletes after it, up to the next chunk's select (so its commit is inside) — the time its rows
stay locked, at most."""
import time

from django.db import connection

from ..workload import scalar
from .admin import seed_log

TARGET_S, CHUNK_S = 60, 1.0


def cleanup(ctx):
    from pushconfig import cleanup as push_log_cleanup

    config = ctx.results.get("log_config") if ctx.results.get("log_seeded") else None
    if config is None:
        config, _total = seed_log(ctx)
    eligible = ctx.counts["log"]
    kept_before = scalar("SELECT count(*) FROM pushconfig_pushrecord WHERE outcome = 'failed'")
    statements = []

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((started, time.perf_counter(), sql))

    started = time.perf_counter()
    with connection.execute_wrapper(timer):
        report = push_log_cleanup.run(config)
    total = time.perf_counter() - started
    if report.total != eligible:
        raise RuntimeError(f"cleanup deleted {report.total} of {eligible}")
    if scalar("SELECT count(*) FROM pushconfig_pushrecord WHERE outcome = 'failed'") != kept_before:
        raise RuntimeError("cleanup deleted failed records")
    starts = [s for s, _e, q in statements if "FOR UPDATE" in q] + [started + total]
    chunks = [b - a for a, b in zip(starts, starts[1:])]
    # PostgreSQL deletes a chunk in the statement that locks it (WITH … DELETE …)
    deletes = [e - s for s, e, q in statements if "DELETE" in q.upper()]
    ctx.row("6", f"cleanup of {eligible:,} eligible records (+ their attempts)",
            f"{total:.1f} s ({eligible / total:,.0f} records/s, {len(chunks)} chunks)",
            f"< {TARGET_S} s", total < TARGET_S)
    ctx.row("6", "longest chunk (rows locked) / longest DELETE statement",
            f"{max(chunks) * 1000:,.0f} ms / {max(deletes) * 1000:,.0f} ms",
            f"< {CHUNK_S * 1000:.0f} ms", max(chunks) < CHUNK_S)
