"""Figure 7: the admin's push log with a large log — the first page, and a page filtered by
config + outcome + receiver (the exact-match search box) — through Django's test Client in
the harness process against the benchmark database (server time without the network): the
median of 5 renders after one warm-up, with the SQL query count and SQL time of one render."""
import statistics
import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from .. import seed
from ..workload import scalar

TARGET_MS = 300


def seed_log(ctx):
    """The log of figures 6 and 7: `log` eligible records of a config with cleanup on (90 %
    success, 5 % ignored, 5 % pending, 40 days old, one attempt each), 10 % more failed ones
    of that config (which cleanup keeps) and 10 % more of another config."""
    from pushconfig.models import PushConfig

    m = ctx.counts["log"]
    PushConfig.objects.filter(identifier="bench-log").delete()
    old = PushConfig(enabled=False, identifier="bench-log", system_name="Bench log",
                     server_url=ctx.receiver.url + "/log", push_type="ecology",
                     cleanup_enabled=True, cleanup_keep_days=30, cleanup_hour=2)
    old.full_clean()
    old.set_params({"sysCode": "BENCH"})
    old.save()
    started = time.perf_counter()
    seed.records(old.pk, m, "log",
                 outcome="(CASE WHEN mod(g, 20) = 0 THEN 'ignored' WHEN mod(g, 20) = 1 THEN 'pending' "
                         "ELSE 'success' END)",
                 created="now() - interval '40 days' + g * interval '1 millisecond'",
                 attempts=True)
    seed.records(old.pk, m // 10, "fail", outcome="'failed'",
                 created="now() - interval '40 days'")
    seed.records(ctx.config.pk, m // 10, "other")
    ctx.results.update(log_seeded=True, log_config=old)
    total = scalar("SELECT count(*) FROM pushconfig_pushrecord")
    print(f"  seeded {total:,} push records in {time.perf_counter() - started:.0f} s", flush=True)
    return old, total


def _render(client, url):
    timings = []
    client.get(url)  # warm-up (templates, plans, the admin's caches)
    for _ in range(5):
        started = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
    return 1000 * statistics.median(timings), len(queries.captured_queries), sql_ms, response


def admin(ctx):
    from django.contrib.auth.models import User

    config, total = seed_log(ctx)
    client = Client()
    client.force_login(User.objects.get(username="bench"))
    base = "/admin/pushconfig/pushrecord/"
    pages = [("first page", base),
             ("filtered: config + outcome failed + receiver u123",
              f"{base}?config={config.pk}&outcome__exact=failed&q=u123")]
    for label, url in pages:
        ms, count, sql_ms, response = _render(client, url)
        rows = response.content.count(b'class="action-select"')
        ctx.row("7", f"admin push log, {total:,} records: {label} ({rows} rows)",
                f"{ms:,.0f} ms server time; {count} queries, {sql_ms:,.0f} ms SQL",
                f"< {TARGET_MS} ms", ms < TARGET_MS)
