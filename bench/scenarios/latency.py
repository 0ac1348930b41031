"""Figure 3: latency at a steady 200 events/s — 20 calls a second of 10 events each, sent on
a fixed schedule (a late call never delays the next one: a pool of senders), workers running.
Per event: from InboundEvent.received_at (set inside the ingest transaction, so at or before
its commit) to the receiver's `$msec` for the record's Idempotency-Key in nginx's access log
(when nginx finished sending its answer). Both clocks are this machine's."""
import json
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from ..runner import percentile
from ..workload import Ingest, events, scalar, sql, wait_for

RATE, PER_CALL, TARGET_P99_MS = 200, 10, 500


def latency(ctx):
    seconds = ctx.counts["latency_s"]
    calls = int(seconds * RATE / PER_CALL)
    stream = list(events("lat", calls * PER_CALL))
    payloads = [json.dumps(stream[i:i + PER_CALL], ensure_ascii=False).encode()
                for i in range(0, len(stream), PER_CALL)]
    client = Ingest(ctx.web.url, ctx.token)
    workers = ctx.workers()
    try:
        mark = ctx.receiver.mark()
        sessions = {}

        def send(body):
            import threading

            session = sessions.setdefault(threading.get_ident(), requests.Session())
            client.post(session, body)

        interval = PER_CALL / RATE
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = []
            for i, body in enumerate(payloads):
                delay = started + i * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(send, body))
            for future in futures:
                future.result()
        sent_s = time.perf_counter() - started
        n = len(stream)
        wait_for(lambda: scalar("SELECT count(*) FROM pushconfig_pushrecord "
                                "WHERE outcome = 'success'") >= n, 120, f"{n} deliveries")
    finally:
        workers.stop()
    answered = {key: msec for msec, _path, key in ctx.receiver.since(mark, "/c/")}
    received = sql("SELECT r.idempotency_key, extract(epoch FROM e.received_at) "
                   "FROM pushconfig_pushrecord r JOIN integration_inboundevent e "
                   "ON e.id = r.inbound_event_id")
    lat = [1000 * (answered[key] - float(at)) for key, at in received if key in answered]
    if len(lat) != n:
        raise RuntimeError(f"{len(lat)} of {n} events found in the receiver's log")
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    ctx.row("3", f"latency at {n / sent_s:,.0f} events/s for {sent_s:.0f} s ({n:,} events), "
                 "commit → receiver answered",
            f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms, max {max(lat):,.0f} ms",
            f"p99 < {TARGET_P99_MS} ms", p99 < TARGET_P99_MS)
