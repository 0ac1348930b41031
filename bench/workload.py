"""The workload: todo events as the OA sends them, the ingest client (bulk calls over
keep-alive sessions, bodies encoded before the clock starts), and database housekeeping."""
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import requests
from django.db import connection

BATCH = 1000
TABLES = ("pushconfig_pushattempt", "pushconfig_pushrecord", "pushconfig_deliverylane",
          "pushconfig_inflightbatch",
          "pushconfig_pushtask", "pushconfig_breaker", "integration_inboundevent",
          "integration_todoitem", "integration_request")


def events(tag, n, receivers=5000):
    """n todo events: 4 receivers per request, one (request, receiver) key per event."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    for i in range(n):
        yield {
            "event_id": f"{tag}-{i}", "data_set": "todo", "business_status": "arrive",
            "request_id": f"{tag}-r{i // 4}", "request_title": f"出差申请 {tag} {i // 4}",
            "workflow_id": "wf-bench", "node_name": "部门经理审批", "creator": "zhangwei",
            "receiver": f"u{i % receivers}", "task_id": f"t{i}",
            "created_at": (base + timedelta(milliseconds=i)).isoformat(),
            "occurred_at": (base + timedelta(milliseconds=i)).isoformat(),
        }


def bodies(tag, n, size=BATCH):
    out, chunk = [], []
    for event in events(tag, n):
        chunk.append(event)
        if len(chunk) == size:
            out.append(json.dumps(chunk, ensure_ascii=False).encode())
            chunk = []
    if chunk:
        out.append(json.dumps(chunk, ensure_ascii=False).encode())
    return out


class Ingest:
    """POSTs pre-encoded bulk bodies to /api/v1/todo-events/ from `threads` keep-alive
    sessions; each answer is checked (all accepted)."""

    def __init__(self, base_url, token):
        self.url = base_url + "/api/v1/todo-events/"
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(self, session, body):
        response = session.post(self.url, data=body, headers=self.headers, timeout=300)
        if response.status_code != 200:
            raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:500]}")
        answer = response.json()
        if answer["invalid"] or answer["duplicate"]:
            raise RuntimeError(f"ingest refused events: {response.text[:500]}")
        return answer["accepted"]

    def run(self, payloads, threads=2):
        """Returns (seconds from the first call to the last answer, per-call seconds)."""
        queue = list(enumerate(payloads))
        lock = threading.Lock()
        durations, errors = [], []

        def worker():
            session = requests.Session()
            while True:
                with lock:
                    if not queue or errors:
                        return
                    _i, body = queue.pop(0)
                started = time.perf_counter()
                try:
                    self.post(session, body)
                except Exception as exc:  # reported once, after the threads end
                    errors.append(exc)
                    return
                durations.append(time.perf_counter() - started)

        started = time.perf_counter()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - started
        if errors:
            raise errors[0]
        return elapsed, durations


def sql(query, params=None):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        try:
            return cursor.fetchall()
        except Exception:
            return None


def scalar(query, params=None):
    return sql(query, params)[0][0]


def reset():
    """Empty the tables the scenarios fill (the configs and users stay)."""
    present = {name for (name,) in sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    tables = [t for t in (*TABLES, "django_webhook_webhookevent") if t in present]
    sql("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
    sql("VACUUM ANALYZE")


def wait_for(predicate, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
