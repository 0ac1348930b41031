"""Figure 2: sustained end-to-end deliveries — the ingest client posts N events while one
Celery worker (prefork, 2 processes) delivers them; the clock runs from the first ingest call
to the last record's `pushed_at` (written after the receiver answered), and every record must
end `success`. The limit: the very bodies the console sent (read back from the push attempts)
posted by one keep-alive loop of the console's own HTTP client (`integration.http.Session`)
to the same nginx, measured on both sides of the console's run — just before its first ingest
call (the bodies of the run before it) and just after its last delivery (its own) — so that a
machine whose speed drifts within the minute moves both sides of the ratio alike."""
import json
import os
import time
from dataclasses import dataclass, field

from integration.http import Session

from .. import cpu
from ..profile import Profiler
from ..workload import Ingest, bodies, reset, scalar, sql, wait_for
from .ingest import _growth

TARGET, RATIO = 1500, 0.75
UPSERT = "/rest/ofs/ReceiveRequestInfoByJson"


def run_console(ctx, n, tag, profile=False, just_before=None):
    """Ingest n events with workers running; returns (deliveries/s, ingest s, total s, worker
    peak RSS MB, CPU seconds per part of the world). `just_before()` runs once the workers
    are ready, just before the clock starts."""
    workers = ctx.workers()
    try:
        payloads = bodies(tag, n)
        if just_before:
            just_before()
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


def sent_calls(cap):
    """The first `cap` bodies the console sent, with their idempotency keys."""
    rows = sql("SELECT a.request, r.idempotency_key FROM pushconfig_pushattempt a "
               "JOIN pushconfig_pushrecord r ON r.id = a.record_id ORDER BY a.id LIMIT %s", [cap])
    return [(json.loads(body) if isinstance(body, str) else body, key) for body, key in rows]


@dataclass
class Loop:
    posts: int = 0
    seconds: float = 0.0
    spent: dict = field(default_factory=dict)  # CPU seconds of the harness and of nginx

    @property
    def rate(self):
        return self.posts / self.seconds

    def __add__(self, other):
        return Loop(self.posts + other.posts, self.seconds + other.seconds,
                    {k: self.spent.get(k, 0) + other.spent.get(k, 0)
                     for k in self.spent.keys() | other.spent.keys()})


def loop_limit(ctx, calls, count):
    """`count` posts of `calls` (taken again from the start when there are fewer), with their
    headers, one keep-alive session, one after the other."""
    session = Session()  # the console's HTTP client
    session.headers["User-Agent"] = "oa-integration-console/1"
    url = ctx.receiver.url + "/loop" + UPSERT
    parts = dict(loop=os.getpid(), nginx=ctx.receiver.process.pid)
    picked = [calls[i % len(calls)] for i in range(count)]
    before = cpu.Snapshot.take(**parts)
    started = time.perf_counter()
    for body, key in picked:
        response = session.post(url, json=body, headers={"Idempotency-Key": key}, timeout=(5, 15))
        if response.json().get("operResult") != "1":
            raise RuntimeError(f"the loop got {response.text[:200]}")
    seconds = time.perf_counter() - started
    session.close()
    return Loop(count, seconds, cpu.Snapshot.take(**parts).since(before))


# The size of the run whose bodies the first size's "before" slice posts (any run's bodies
# have the shape; a slice takes them again from the start).
WARM_UP = 2000


def push(ctx):
    sizes, cap = ctx.counts["growth"], ctx.counts["loop_cap"]
    reset()
    warm = min(WARM_UP, sizes[0])
    run_console(ctx, warm, "puwarm")
    calls = sent_calls(warm)
    for n in sizes:
        reset()
        posts, slices = min(n, cap), {}
        rate, ingest_s, total, rss, spent = run_console(
            ctx, n, f"pu{n}", profile=bool(ctx.profile_dir) and n == sizes[-1],
            just_before=lambda: slices.update(before=loop_limit(ctx, calls, posts)))
        calls = sent_calls(posts)
        slices["after"] = loop_limit(ctx, calls, posts)
        loop = slices["before"] + slices["after"]
        ratio = rate / loop.rate
        ctx.results.setdefault("push", {})[n] = rate
        ctx.row("2", f"push {n:,} events end to end (2 worker processes)",
                f"{rate:,.0f} deliveries/s ({total:.1f} s; ingest done at {ingest_s:.1f} s; "
                f"worker peak RSS {rss:.0f} MB)", f">= {TARGET:,}/s", rate >= TARGET)
        ctx.row("2", f"ratio to the plain keep-alive loop ({loop.rate:,.0f} posts/s: "
                     f"{slices['before'].rate:,.0f} just before, "
                     f"{slices['after'].rate:,.0f} just after)",
                f"{ratio:.3f}", f">= {RATIO}", ratio >= RATIO)
        ctx.row("2", "CPU per delivery, every process", cpu.per_item(spent, n, total))
        ctx.row("2", "CPU per post of the loop", cpu.per_item(loop.spent, loop.posts,
                                                                    loop.seconds))
        if n == ctx.counts["compare"]:
            ctx.results["console_compare"] = rate
    _growth(ctx, "push", "2")
