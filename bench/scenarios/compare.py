"""Figure 4: the same N events delivered to the same nginx by the same worker processes
(prefork -c 2), three ways, one after the other in this run:
- the console: bulk ingest → push records → lanes, batches, one session per config (figure 2's
  measurement at this N);
- the plain baseline: one Celery task per push (`bench.tasks.post_one`: requests.post), the
  producer a loop of `apply_async` in the harness;
- django-webhook: one InboundEvent saved per event (`objects.create`); its post_save signal
  sends `fire_webhook` per webhook, which stores a WebhookEvent, signs and posts the payload.
Each clock runs from the producer's first call to the receiver's last answer (nginx $msec)."""
import time

from ..workload import events, reset
from .push import TARGET as _unused  # noqa: F401
from .push import run_console

RATIO = 3.0
UPSERT = "/rest/ofs/ReceiveRequestInfoByJson"


def _body(event):
    return {"syscode": "BENCH", "flowid": event["request_id"], "requestname": event["request_title"],
            "workflowname": event["workflow_id"], "nodename": event["node_name"],
            "pcurl": "", "appurl": "", "creator": event["creator"],
            "createdatetime": event["created_at"], "receiver": event["receiver"],
            "receivedatetime": event["occurred_at"], "isremark": "0", "viewtype": "0",
            "receivets": "0"}


def _wait_received(ctx, mark, prefix, n, started, timeout):
    deadline = time.monotonic() + timeout
    while True:
        rows = ctx.receiver.since(mark, prefix)
        if len(rows) >= n:
            return n / (max(r[0] for r in rows) - started)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{prefix}: {len(rows)} of {n} arrived in {timeout} s")


def plain(ctx, n):
    from bench.tasks import post_one

    stream = list(events("pl", n))
    url = ctx.receiver.url + "/plain" + UPSERT
    workers = ctx.workers()
    try:
        mark = ctx.receiver.mark()
        started = time.time()
        for event in stream:
            post_one.apply_async((url, _body(event), f"plain:{event['event_id']}"))
        return _wait_received(ctx, mark, "/plain/", n, started, 120 + n / 20)
    finally:
        workers.stop()


def webhook_package(ctx, n):
    from django_webhook.models import Webhook, WebhookSecret, WebhookTopic

    from integration.models import InboundEvent

    stream = list(events("dw", n))
    topic = WebhookTopic.objects.get(name="integration.InboundEvent/create")
    hook = Webhook.objects.create(url=ctx.receiver.url + "/dw/", active=True)
    hook.topics.add(topic)
    WebhookSecret.objects.create(webhook=hook, token="bench-secret-0123456789")
    workers = ctx.workers()
    try:
        mark = ctx.receiver.mark()
        started = time.time()
        for event in stream:
            InboundEvent.objects.create(
                event_id=event["event_id"], kind="todo", source="api",
                request_id=event["request_id"], data_set=event["data_set"],
                business_status=event["business_status"], receiver=event["receiver"],
                workflow_id=event["workflow_id"], occurred_at=event["occurred_at"],
                applied=True, flags=[], flagged=False, payload=event)
        return _wait_received(ctx, mark, "/dw/", n, started, 120 + n / 20)
    finally:
        workers.stop()
        hook.active = False
        hook.save()


def compare(ctx):
    n = ctx.counts["compare"]
    console = ctx.results.get("console_compare")
    if console is None:
        reset()
        console = run_console(ctx, n, f"cmp{n}")[0]
    ctx.row("4", f"console, {n:,} events (bulk ingest, lanes, batches)", f"{console:,.0f} pushes/s")
    reset()
    rates = {"plain Celery task per push (requests.post)": plain(ctx, n)}
    ctx.row("4", f"plain Celery task per push, {n:,} events", f"{rates[next(iter(rates))]:,.0f} pushes/s")
    reset()
    try:
        import django_webhook  # noqa: F401
    except ImportError:
        ctx.row("4", "django-webhook", "not measured: not installed (pip install django-webhook)")
    else:
        rates["django-webhook"] = webhook_package(ctx, n)
        from importlib.metadata import version
        ctx.row("4", f"django-webhook {version('django-webhook')}, {n:,} events", f"{rates['django-webhook']:,.0f} pushes/s")
    best_name, best = max(rates.items(), key=lambda kv: kv[1])
    ratio = console / best
    ctx.row("4", f"console / the faster baseline ({best_name})", f"{ratio:.2f}",
            f">= {RATIO:.0f}", ratio >= RATIO)
