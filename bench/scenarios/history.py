"""Figure 5: a history re-push of N push records through a batch push task
(`pushconfig.batch`, queue "batch"), the same worker processes delivering (queue "push").
N success records of the config are seeded in the log; the clock runs from `launch()` to the
last new record's `pushed_at`, and to the task's `succeeded`. Worker peak memory: VmHWM of
the worker and each pool process, started fresh for each N."""
import time

from django.db import transaction

from .. import seed
from ..profile import Profiler
from ..workload import scalar, sql, wait_for
from .ingest import _growth

TARGET, RSS_MB = 1000, 300


def history(ctx):
    try:
        from pushconfig import batch
        from pushconfig.models import PushTask
    except ImportError:
        ctx.row("5", "history re-push", "not measured: pushconfig.batch is not there")
        return
    from ..workload import reset

    for n in ctx.counts["history"]:
        reset()
        seed.records(ctx.config.pk, n, f"hist{n}")
        workers = ctx.workers()
        profiler = (Profiler(ctx.profile_dir, f"history-workers-{n}", workers.pids())
                    if ctx.profile_dir and n == ctx.counts["history"][-1] else None)
        try:
            started = time.time()
            with transaction.atomic():
                task = batch.launch(PushTask(mode="history", config=ctx.config, filters={}))
            wait_for(lambda: PushTask.objects.get(pk=task.pk).status
                     in ("succeeded", "failed", "cancelled"), 300 + n / 50, f"task of {n}")
            finished = time.time()
            if profiler:
                print(profiler.stop())
            task.refresh_from_db()
            rss = workers.peak_rss_mb()
        finally:
            workers.stop()
        outcomes = dict(sql("SELECT outcome, count(*) FROM pushconfig_pushrecord "
                            "WHERE task_id = %s GROUP BY outcome", [task.pk]))
        if task.status != "succeeded" or outcomes.get("success") != n:
            raise RuntimeError(f"task {task.status}: {outcomes}")
        last = float(scalar("SELECT extract(epoch FROM max(pushed_at)) FROM "
                            "pushconfig_pushrecord WHERE task_id = %s", [task.pk]))
        rate = n / (last - started)
        peak = max(rss.values())
        ctx.results.setdefault("history", {})[n] = rate
        ctx.row("5", f"history re-push of {n:,} records (batch task)",
                f"{rate:,.0f} records/s (delivered in {last - started:.1f} s, task succeeded "
                f"at {finished - started:.1f} s)", f">= {TARGET:,}/s", rate >= TARGET)
        ctx.row("5", f"worker peak RSS, {n:,} records (largest of {len(rss)} processes)",
                f"{peak:.0f} MB (all: {', '.join(f'{v:.0f}' for v in sorted(rss.values()))})",
                f"< {RSS_MB} MB", peak < RSS_MB)
    _growth(ctx, "history", "5")
