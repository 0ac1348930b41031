"""Figure 1 (and its growth, figure 8): bulk POST /api/v1/todo-events/, 1000 events a call,
two client sessions (one per web worker), one enabled config; no Celery worker runs, so the
web server and PostgreSQL have the machine. Counted only once every event and its push record
are committed (checked in the database afterwards)."""
from .. import cpu
from ..profile import Profiler
from ..runner import median
from ..workload import Ingest, bodies, reset, scalar

TARGET = 5000


def ingest(ctx):
    sizes = ctx.counts["growth"]
    for n in sizes:
        reset()
        payloads = bodies(f"in{n}", n)
        profiler = (Profiler(ctx.profile_dir, f"ingest-web-{n}", ctx.web.pids()[1:] or ctx.web.pids())
                    if ctx.profile_dir and n == sizes[-1] else None)
        before = cpu.world(ctx)
        elapsed, calls = Ingest(ctx.web.url, ctx.token).run(payloads, threads=2)
        spent = cpu.world(ctx).since(before)
        if profiler:
            print(profiler.stop())
        events = scalar("SELECT count(*) FROM integration_inboundevent")
        records = scalar("SELECT count(*) FROM pushconfig_pushrecord")
        if events != n or records != n:
            raise RuntimeError(f"stored {events} events and {records} push records of {n}")
        rate = n / elapsed
        ctx.results.setdefault("ingest", {})[n] = rate
        ctx.row("1", f"ingest {n:,} events (bulk 1000/call, 2 clients)",
                f"{rate:,.0f} events/s (call p50 {1000 * median(calls):.0f} ms)",
                f">= {TARGET:,}/s", rate >= TARGET)
        ctx.row("1", "CPU per event, every process", cpu.per_item(spent, n, elapsed))
    _growth(ctx, "ingest", "1")


def _growth(ctx, key, figure):
    rates = ctx.results.get(key, {})
    if len(rates) > 1:
        first, last = min(rates), max(rates)
        ratio = rates[last] / rates[first]
        ctx.row("8", f"growth of {key}: rate at {last:,} / rate at {first:,}", f"{ratio:.2f}",
                ">= 0.8 (flat)", ratio >= 0.8)
