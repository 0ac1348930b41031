"""Fault injection on action flow runs: workflow events in over REST start "after" flows whose
two HTTP steps call receivers on 127.0.0.1, executed by a real Celery worker, while the worker
is SIGKILLed mid-step or the broker is gone when the events arrive.

A run is written with its event (the outbox rule), claimed by a worker with a lease renewed
before each step, and re-enqueued by beat's sweeper (`actionflow.tasks.sweep_runs`) when it
sits queued past the grace or its lease expired; it resumes after its last finished step.

Each scenario prints its figures — accepted (events the inbox accepted), delivered (events
whose run succeeded and whose last step reached its receiver), duplicates (calls a receiver
got beyond the first for an event, over both steps: at least once), lost (accepted −
delivered − runs given up with the reason) — and asserts lost == 0.
"""
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.receivers import Answer, Receiver

from .conftest import report, wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.postgres_only]

WORKFLOW = "wf-rel-flows"
# The shortest lease the settings allow, a sweep every 5 s and the shortest grace, so that a
# dead worker's run is back on the queue within seconds of its lease running out.
FLOW_SETTINGS = {"FLOW_RUN_LEASE_SECONDS": 30, "FLOW_SWEEP_SECONDS": 5,
                 "FLOW_SWEEP_GRACE_SECONDS": 5, "FLOW_RUN_MAX_EXECUTIONS": 3}
FINISHED = ("success", "failed")
GAVE_UP = "lost its worker"  # the engine's reason for a run claimed too often

# The template database was migrated with the default sweep interval; writing the schedules
# again with this console's settings moves the sweeper to FLOW_SWEEP_SECONDS (beat's database
# scheduler notices the change within its 5 s tick). And the workflow the flows watch.
SETUP = """
from actionflow.apps import ensure_schedules
from django_celery_beat.models import PeriodicTask
from integration.models import Workflow
ensure_schedules(None)
Workflow.objects.get_or_create(workflow_id=%r, defaults={"name": "Reliability flows"})
task = PeriodicTask.objects.get(task="actionflow.tasks.sweep_runs")
print("SWEEP_EVERY=%%d" %% task.interval.every)
"""


class Ledger:
    """A receiver on 127.0.0.1 answering 200 after `delay` seconds, counting calls per event
    (the step's body names the event and the run's execution)."""

    def __init__(self, delay=0.0):
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        self.receiver = Receiver(self._answer)
        self.delay = delay
        # A caller killed mid-call leaves a broken pipe: expected here, not worth a traceback.
        self.receiver.server.handle_error = lambda request, address: None
        self.url = self.receiver.url

    def _answer(self, got):
        try:
            body = json.loads(got.body)
        except ValueError:
            body = {}
        with self._lock:
            self.calls.append(body if isinstance(body, dict) else {})
        return Answer(body={"code": "0"}, delay=self.delay)

    def per_event(self):
        with self._lock:
            return Counter(str(call.get("event_id")) for call in self.calls)

    def executions(self, event_id):
        """The run execution (claim number) of each call for the event, in arrival order."""
        with self._lock:
            return [str(c.get("execution")) for c in self.calls
                    if str(c.get("event_id")) == event_id]

    def close(self):
        self.receiver.close()


@pytest.fixture
def ledgers():
    made = []

    def make(delay=0.0):
        made.append(Ledger(delay))
        return made[-1]

    yield make
    for ledger in made:
        ledger.close()


def prepare(console, first, second, name):
    """The sweeper on FLOW_SWEEP_SECONDS, the workflow, and an enabled "after" flow with two
    HTTP steps (first → `first`, second → `second`) saved over the REST API (checked and
    published as version 1, as an administrator's save would)."""
    out = console.manage("shell", "-c", SETUP % WORKFLOW)
    assert f"SWEEP_EVERY={FLOW_SETTINGS['FLOW_SWEEP_SECONDS']}" in out, out

    def call(url, label):
        return {"key": label, "name": f"{label} call", "kind": "http", "tries": 1,
                "retry_wait": 0, "on_failure": "stop", "config": {
                    "method": "POST", "url": url, "timeout": 20, "body_type": "json",
                    "body": {"event_id": "{{ input.event_id }}",
                             "request_id": "{{ input.request_id }}",
                             "execution": "{{ run.execution }}"},
                    "success": {"path": "code", "value": "0"}}}

    status, body, _seconds = console.post("/api/v1/action-flows/", {
        "name": name, "enabled": True, "trigger": "workflow", "workflow": WORKFLOW,
        "node_name": "", "moment": "after",
        "steps": [call(first.url + "/first", "first"), call(second.url + "/second", "second")]})
    assert status == 201 and body["version"] == 1, body
    return body["id"]


def workflow_events(tag, count):
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    return [{"event_id": f"{tag}-{n}", "moment": "after", "request_id": f"{tag}-req-{n}",
             "request_title": f"可靠性 {tag} {n}", "workflow_id": WORKFLOW, "node_name": "审批",
             "creator": "zhangwei", "occurred_at": (base + timedelta(seconds=n)).isoformat()}
            for n in range(count)]


def accept(console, events, timeout=30):
    status, body, seconds = console.post("/api/v1/workflow-events/", events, timeout=timeout)
    assert status == 200 and body["accepted"] == len(events), body
    return seconds


def runs(console, flow_id):
    """{event_id: (status, executions, message)} of the flow's runs."""
    return {event: (status, attempts, message) for event, status, attempts, message in
            console.sql("SELECT event_id, status, attempts, message FROM actionflow_flowrun "
                        "WHERE flow_id = %s", flow_id)}


def runs_per_event(console, flow_id):
    return dict(console.sql("SELECT event_id, count(*) FROM actionflow_flowrun "
                            "WHERE flow_id = %s GROUP BY event_id", flow_id))


def unfinished(console, flow_id):
    return console.sql("SELECT id, event_id, status, attempts, lease_until FROM "
                       "actionflow_flowrun WHERE flow_id = %s AND status NOT IN %s "
                       "ORDER BY id LIMIT 10", flow_id, FINISHED)


def statuses(console, flow_id):
    return dict(console.sql("SELECT status, count(*) FROM actionflow_flowrun "
                            "WHERE flow_id = %s GROUP BY status", flow_id))


def progress(console, flow_id):
    return f"{statuses(console, flow_id)}; unfinished: {unfinished(console, flow_id)}"


def all_finished(console, flow_id, count):
    return lambda: sum(n for status, n in statuses(console, flow_id).items()
                       if status in FINISHED) == count


def step_logs(console, flow_id):
    """{event_id: {step key: status}}."""
    logs = {}
    for event, key, status in console.sql(
            "SELECT r.event_id, s.key, s.status FROM actionflow_steprun s "
            "JOIN actionflow_flowrun r ON r.id = s.run_id WHERE r.flow_id = %s", flow_id):
        logs.setdefault(event, {})[key] = status
    return logs


def figures(accepted, finished_runs, first, second):
    """The scenario's figures; `given_up`: runs failed for losing their worker too often."""
    calls_first, calls_second = first.per_event(), second.per_event()
    delivered = {e for e in accepted
                 if finished_runs.get(e, ("",))[0] == "success" and calls_second[e] >= 1}
    given_up = {e for e in accepted if finished_runs.get(e, ("",))[0] == "failed"
                and GAVE_UP in finished_runs[e][2]}
    return {
        "accepted": len(accepted),
        "delivered": len(delivered),
        "duplicates": sum(n - 1 for n in calls_first.values())
                      + sum(n - 1 for n in calls_second.values()),
        "lost": len(accepted) - len(delivered) - len(given_up),
        "given_up": len(given_up),
        "unexpected": sorted((set(calls_first) | set(calls_second)) - set(accepted)),
        "calls_first": sum(calls_first.values()),
        "calls_second": sum(calls_second.values()),
    }


def test_worker_killed_in_the_middle_of_flow_runs(console, ledgers):
    """SIGKILL the worker (pool and all) while runs are in their steps, start another: the
    runs it held stay `running` until their lease expires, then the sweeper hands them to the
    new worker, which resumes each after its last finished step. Every accepted event ends
    with exactly one run, succeeded (or failed for losing its worker too often, with the
    reason); a step is called again only if it was in flight when the worker died."""
    first, second = ledgers(delay=0.5), ledgers(delay=3)
    console = console(**FLOW_SETTINGS)
    flow = prepare(console, first, second, "Reliability: worker killed")
    events = workflow_events("kill", 20)
    accepted = [e["event_id"] for e in events]
    accept(console, events)
    assert runs_per_event(console, flow) == dict.fromkeys(accepted, 1)

    def mid_step():
        # Some runs got through, others are queued, and a run is in its second step with its
        # first one done, at most 2 s into the 3 s call: still running when the kill lands a
        # moment later, so its resumption must skip the finished first step.
        done = statuses(console, flow).get("success", 0)
        return 4 <= done < len(accepted) - 4 and console.sql(
            "SELECT count(*) FROM actionflow_steprun s JOIN actionflow_flowrun r "
            "ON r.id = s.run_id WHERE r.flow_id = %s AND s.key = 'second' "
            "AND s.status = 'running' AND s.started_at > now() - interval '2 seconds'",
            flow)[0][0] > 0

    wait_until(mid_step, 90, "runs to be in the middle of a step",
               lambda: progress(console, flow), interval=0.05)
    console.kill_worker()
    killed_at = time.monotonic()
    # What the dead worker left: its runs still `running` (leased), their step logs.
    in_flight = {e for e, (status, _a, _m) in runs(console, flow).items() if status == "running"}
    logs_at_kill = step_logs(console, flow)
    first_done_at_kill = {e for e in in_flight
                          if logs_at_kill.get(e, {}).get("first") == "success"}
    calls_at_kill = (len(first.calls), len(second.calls))
    console.start_worker()
    wait_until(all_finished(console, flow, len(accepted)), 150,
               "every run to finish after the restart", lambda: progress(console, flow))
    resumed_in = time.monotonic() - killed_at

    finished_runs = runs(console, flow)
    result = figures(accepted, finished_runs, first, second)
    calls_first, calls_second = first.per_event(), second.per_event()
    duplicated = sorted(e for e in accepted if calls_first[e] > 1 or calls_second[e] > 1)
    executions = Counter(attempts for _s, attempts, _m in finished_runs.values())
    report("flow runs, worker SIGKILLed mid-step", result, in_flight_at_kill=len(in_flight),
           first_step_done_at_kill=len(first_done_at_kill), calls_at_kill=calls_at_kill,
           duplicated=duplicated, executions=dict(sorted(executions.items())),
           statuses=statuses(console, flow), finished_after_kill=f"{resumed_in:.1f}s")

    assert result["lost"] == 0 and not result["unexpected"], progress(console, flow)
    assert first_done_at_kill, "the kill came between runs: no run was in its second step"
    # Exactly one run per accepted event, none missing, none stuck queued or running.
    assert runs_per_event(console, flow) == dict.fromkeys(accepted, 1)
    for event, (status, attempts, message) in finished_runs.items():
        assert status == "success" or (
            status == "failed" and GAVE_UP in message
            and attempts > FLOW_SETTINGS["FLOW_RUN_MAX_EXECUTIONS"]), (event, status, message)
    # At least once: every event reached the first receiver; only what the dead worker had
    # on the wire may have been called twice.
    assert set(calls_first) >= set(accepted)
    assert set(duplicated) <= in_flight, (duplicated, in_flight)
    # Claimed again only when its worker died; each of those was claimed again.
    assert {e for e, (_s, attempts, _m) in finished_runs.items() if attempts > 1} == in_flight
    # Resumed after the last finished step: a first step done before the kill is not repeated;
    # the new execution (the second claim) made the calls the dead worker had not finished.
    for event in first_done_at_kill:
        assert calls_first[event] == 1, (event, first.executions(event))
    for event in in_flight:
        if finished_runs[event][0] == "success":
            assert second.executions(event)[-1] == "2", (event, second.executions(event))
    succeeded = [e for e, (status, _a, _m) in finished_runs.items() if status == "success"]
    logs = step_logs(console, flow)
    assert all(logs[e] == {"first": "success", "second": "success"} for e in succeeded), logs


def test_broker_unreachable_when_flow_events_arrive(console, ledgers):
    """With the broker gone, the inbox still accepts the workflow events and writes their runs
    (queued) with them; nothing runs; once the broker is back, the sweeper enqueues the runs
    the broker never got, and each is executed exactly once."""
    first, second = ledgers(), ledgers()
    console = console(**FLOW_SETTINGS)
    flow = prepare(console, first, second, "Reliability: broker away")
    events = workflow_events("broker", 20)
    accepted = [e["event_id"] for e in events]
    console.broker.stop()
    api_seconds = accept(console, events, timeout=60)
    assert runs_per_event(console, flow) == dict.fromkeys(accepted, 1)
    assert statuses(console, flow) == {"queued": len(accepted)}
    # Past the sweeper's grace and interval: beat cannot reach the worker either.
    time.sleep(FLOW_SETTINGS["FLOW_SWEEP_GRACE_SECONDS"] + 1)
    assert statuses(console, flow) == {"queued": len(accepted)}
    assert first.calls == [] and second.calls == []

    console.broker.start()
    delivered_in = wait_until(all_finished(console, flow, len(accepted)), 90,
                              "every run to finish once the broker is back",
                              lambda: progress(console, flow))
    finished_runs = runs(console, flow)
    result = figures(accepted, finished_runs, first, second)
    report("flow runs, broker unreachable when events arrive", result,
           api_call_seconds=round(api_seconds, 2), statuses=statuses(console, flow),
           finished_after_broker_back=f"{delivered_in:.1f}s")

    assert result["lost"] == 0 and not result["unexpected"], progress(console, flow)
    assert runs_per_event(console, flow) == dict.fromkeys(accepted, 1)
    assert statuses(console, flow) == {"success": len(accepted)}
    # Nobody died: each run claimed once and each step called once per event, however many
    # times the sweeper enqueued it.
    assert result["duplicates"] == 0, (first.per_event(), second.per_event())
    assert first.per_event() == second.per_event() == dict.fromkeys(accepted, 1)
    assert {attempts for _s, attempts, _m in finished_runs.values()} == {1}
