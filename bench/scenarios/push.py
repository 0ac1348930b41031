"""Figure 2: sustained end-to-end deliveries — the ingest client posts N events while one
Celery worker (prefork, 2 processes) delivers them; the clock runs from the first ingest call
to the last record's `pushed_at` (written after the receiver answered), and every record must
end `success`. The limit: the very bodies the console sent (read back from the push attempts)
posted by one keep-alive loop of the console's own HTTP client (`integration.http.Session`)
to the same nginx."""
import os
import time

from integration.http import Session

from .. import cpu
from ..profile import Profiler
from ..workload import Ingest, bodies, scalar, sql, wait_for
from .ingest import _growth

TARGET, RATIO = 1500, 0.75
UPSERT = "/rest/ofs/ReceiveRequestInfoByJson"


def run_console(ctx, n, tag, profile=False):
    """Ingest n events with workers running; returns (deliveries/s, ingest s, total s, worker
    peak RSS MB, CPU seconds per part of the world)."""
    workers = ctx.workers()
    try:
        payloads = bodies(tag, n)
        profiler = Profiler(ctx.profile_dir, f"push-workers-{n}", workers.pids()) if profile else None
        before = cpu.world(ctx, workers)
        started = time.time()
        ingest_s, _calls = Ingest(ctx.web.url, ctx.token).run(payloads, threads=2)
        # All n are stored (each call's answer was checked): wait until none is pending.
        # An EXISTS on the open-queue index, not a count: counting the table five times a
        # second took a tenth of PostgreSQL's time in the run it measured.
        wait_for(lambda: not scalar("SELECT EXISTS (SELECT 1 FROM pushconfig_pushrecord "
                                    "WHERE config_id = %s AND outcome = 'pending')",
                                    [ctx.config.pk]),
                 timeout=120 + n / 50, what=f"{n} deliveries")
        spent = cpu.world(ctx, workers).since(before)
        if profiler:
            print(profiler.stop())
        outcomes = dict(sql("SELECT outcome, count(*) FROM pushconfig_pushrecord "
                            "WHERE config_id = %s GROUP BY outcome", [ctx.config.pk]))
        if outcomes.get("success") != n:
            raise RuntimeError(f"not every record succeeded: {outcomes}")
        last = scalar("SELECT extract(epoch FROM max(pushed_at)) FROM pushconfig_pushrecord "
                      "WHERE config_id = %s", [ctx.config.pk])
        total = float(last) - started
        rss = max(workers.peak_rss_mb().values())
    finally:
        workers.stop()
    return n / total, ingest_s, total, rss, spent


def loop_limit(ctx, cap):
    """The same bodies and headers, one keep-alive session, one after the other. Returns
    (posts/s, CPU seconds of the harness and of nginx, posts)."""
    rows = sql("SELECT a.request, r.idempotency_key FROM pushconfig_pushattempt a "
               "JOIN pushconfig_pushrecord r ON r.id = a.record_id ORDER BY a.id LIMIT %s", [cap])
    import json

    calls = [(json.loads(body) if isinstance(body, str) else body, key) for body, key in rows]
    session = Session()  # the console's HTTP client
    session.headers["User-Agent"] = "oa-integration-console/1"
    url = ctx.receiver.url + "/loop" + UPSERT
    parts = dict(loop=os.getpid(), nginx=ctx.receiver.process.pid)
    before = cpu.Snapshot.take(**parts)
    started = time.perf_counter()
    for body, key in calls:
        response = session.post(url, json=body, headers={"Idempotency-Key": key}, timeout=(5, 15))
        if response.json().get("operResult") != "1":
            raise RuntimeError(f"the loop got {response.text[:200]}")
    rate = len(calls) / (time.perf_counter() - started)
    spent = cpu.Snapshot.take(**parts).since(before)
    return rate, spent, len(calls)


def push(ctx):
    sizes = ctx.counts["growth"]
    for n in sizes:
        from ..workload import reset

        reset()
        rate, ingest_s, total, rss, spent = run_console(
            ctx, n, f"pu{n}", profile=bool(ctx.profile_dir) and n == sizes[-1])
        limit, loop_spent, posts = loop_limit(ctx, min(n, ctx.counts["loop_cap"]))
        ratio = rate / limit
        ctx.results.setdefault("push", {})[n] = rate
        ctx.row("2", f"push {n:,} events end to end (2 worker processes)",
                f"{rate:,.0f} deliveries/s ({total:.1f} s; ingest done at {ingest_s:.1f} s; "
                f"worker peak RSS {rss:.0f} MB)", f">= {TARGET:,}/s", rate >= TARGET)
        ctx.row("2", f"ratio to the plain keep-alive loop ({limit:,.0f} posts/s)",
                f"{ratio:.3f}", f">= {RATIO}", ratio >= RATIO)
        ctx.row("2", "CPU per delivery, every process", cpu.per_item(spent, n, total))
        ctx.row("2", "CPU per post of the loop", cpu.per_item(loop_spent, posts,
                                                                    posts / limit))
        if n == ctx.counts["compare"]:
            ctx.results["console_compare"] = rate
    _growth(ctx, "push", "2")
