"""The engine: steps in order with their logs, branches, output, tries, stop or continue,
versions, re-runs, resuming after a lost worker, the sweeper, pruning, masking, alerts."""
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from actionflow import engine
from actionflow.definition import publish
from actionflow.models import FlowRun, FlowStep, StepRun
from integration.secrets import mask
from tests.receivers import Answer, Receiver

from .helpers import make_flow

pytestmark = pytest.mark.django_db

OK = {"status": "success", "message": "fine {{ input.name }}"}


def branch_flow():
    return make_flow("decide", steps=[
        {"key": "check", "kind": "branch", "config": {
            "branches": [{"name": "yes", "conditions": [
                {"left": "{{ input.ok }}", "operator": "is_true"}], "steps": ["good"]}],
            "otherwise": ["bad"]}},
        {"key": "good", "kind": "output", "config": OK},
        {"key": "bad", "kind": "output",
         "config": {"status": "failed", "message": "refused: {{ input.reason }}"}},
    ])


@pytest.fixture
def receiver():
    server = Receiver(Answer(body={"code": "0", "data": {"id": "T-1"}}))
    yield server
    server.close()


def http_step(url, key="call", **extra):
    return {"key": key, "kind": "http", "config": {
        "method": "POST", "url": url + "/api/{{ input.request_id }}",
        "body": {"title": "{{ input.title }}"}, "outputs": {"ticket": "data.id"},
        **extra.pop("config", {})}, **extra}


def test_the_first_matching_branch_runs_its_steps_and_the_output_step_ends_the_run():
    flow = branch_flow()
    run = engine.run_now(flow, FlowRun.Trigger.API, {"ok": True, "name": "张三"})
    assert (run.status, run.message, run.failed_step) == ("success", "fine 张三", "")
    assert list(run.steps.values_list("key", "status")) == [("check", "success"),
                                                             ("good", "success")]
    assert run.steps.get(key="check").output == {"arm": 0, "branch": "yes"}
    assert run.version.number == 1 and run.duration_ms is not None


def test_the_otherwise_arm_and_a_failing_output_step_fail_the_run_with_its_message():
    run = engine.run_now(branch_flow(), FlowRun.Trigger.API, {"ok": "否", "reason": "no opinion"})
    assert (run.status, run.message, run.failed_step) == ("failed", "refused: no opinion", "bad")
    assert run.steps.get(key="bad").input == {"status": "failed",
                                              "message": "refused: no opinion"}


def test_each_step_logs_its_evaluated_input_and_its_output(receiver):
    flow = make_flow("http", steps=[http_step(receiver.url),
                                     {"key": "done", "kind": "output", "config": {
                                         "status": "success",
                                         "message": "ticket {{ steps.call.ticket }}"}}])
    run = engine.run_now(flow, FlowRun.Trigger.API, {"request_id": "R 1", "title": "风险"})
    assert run.status == "success" and run.message == "ticket T-1"
    [sent] = receiver.requests
    assert sent.path == "/api/R%201" and sent.json() == {"title": "风险"}
    call = run.steps.get(key="call")
    assert call.input["url"].endswith("/api/R 1") and call.output["ticket"] == "T-1"
    assert call.output["status_code"] == 200 and call.tries == 1


def test_a_transient_failure_is_tried_again_as_the_step_allows(receiver):
    answers = iter([Answer(status=503), Answer(status=502), Answer(body={"data": {"id": "X"}})])
    receiver.answer = lambda received: next(answers)
    flow = make_flow("retry", steps=[http_step(receiver.url, tries=3, retry_wait=0)])
    run = engine.run_now(flow, FlowRun.Trigger.API, {"request_id": "1"})
    assert run.status == "success"
    assert run.steps.get().tries == 3 and len(receiver.requests) == 3


def test_a_permanent_failure_is_not_tried_again_and_fails_the_run_naming_step_and_reason(
        receiver):
    receiver.answer = Answer(status=400, body={"error": "bad"})
    flow = make_flow("perm", steps=[http_step(receiver.url, tries=5, retry_wait=0,
                                               name="Notify ERP")])
    run = engine.run_now(flow, FlowRun.Trigger.API, {"request_id": "1"})
    assert run.status == "failed" and run.failed_step == "call"
    assert run.message == "Step “Notify ERP” failed: The system answered HTTP 400."
    step = run.steps.get()
    assert step.tries == 1 and step.status == "failed" and step.output["status_code"] == 400


def test_a_step_set_to_continue_lets_the_run_go_on(receiver):
    receiver.answer = Answer(status=404)
    flow = make_flow("cont", steps=[
        http_step(receiver.url, on_failure="continue"),
        {"key": "done", "kind": "output", "config": {
            "status": "success", "message": "code {{ steps.call.status_code }}"}}])
    run = engine.run_now(flow, FlowRun.Trigger.API, {"request_id": "1"})
    assert (run.status, run.message) == ("success", "code 404")
    assert run.steps.get(key="call").continued


def test_a_run_without_an_output_step_succeeds_when_every_step_did(receiver):
    run = engine.run_now(make_flow("plain", steps=[http_step(receiver.url)]),
                         FlowRun.Trigger.API, {"request_id": "1"})
    assert run.status == "success" and run.message == ""


def test_an_unreachable_system_fails_after_its_tries():
    flow = make_flow("down", steps=[http_step("http://127.0.0.1:9", tries=2, retry_wait=0)])
    run = engine.run_now(flow, FlowRun.Trigger.API, {"request_id": "1"})
    assert run.status == "failed" and "Cannot connect" in run.message
    assert run.steps.get().tries == 2


def test_secrets_are_used_but_masked_in_the_step_log(receiver):
    flow = make_flow("secret", secrets='{"token": "s3cr3t-value-123"}', steps=[
        http_step(receiver.url, config={"headers": {
            "Authorization": "Bearer {{ secrets.token }}"}})])
    run = engine.run_now(flow, FlowRun.Trigger.API, {"request_id": "1"})
    assert receiver.requests[0].headers["Authorization"] == "Bearer s3cr3t-value-123"
    logged = run.steps.get().input["headers"]["Authorization"]
    assert "s3cr3t-value-123" not in logged and logged.startswith("Bearer ")


def test_secrets_never_reach_the_run_message_and_odd_secrets_do_not_break_the_log(receiver):
    flow = make_flow("odd", secrets='{"pin": "2024", "token": "supersecretvalue123"}', steps=[
        http_step("http://127.0.0.1:9", config={
            "url": "http://127.0.0.1:9/x?token={{ secrets.token }}",
            "query": {"n": "{{ input.n }}", "pin": "{{ secrets.pin }}"}})])
    run = engine.run_now(flow, FlowRun.Trigger.API, {"n": 20240101})
    assert run.status == "failed" and "Cannot connect" in run.message
    assert "supersecretvalue123" not in run.message
    logged = run.steps.get().input
    assert "supersecretvalue123" not in json.dumps(logged) and "2024" not in logged["query"]["pin"]


def test_a_secret_is_masked_as_a_url_carries_it_too():
    secret = "p@ss w/rd+&1"
    logged = engine.scrub({"url": "http://h/x?key=p%40ss+w%2Frd%2B%261",
                           "path": "http://h/p%40ss%20w%2Frd%2B%261",
                           "json": '{"k": "p@ss w/rd+&1"}'}, [secret])
    assert not any(part in json.dumps(logged) for part in ("p%40ss", "p@ss"))
    assert all(value.count(mask(secret)) == 1 for value in logged.values())


def test_a_step_handed_to_a_worker_logs_its_error_without_the_secret(monkeypatch):
    slow = Receiver(Answer(delay=2.5))
    monkeypatch.setattr(engine, "enqueue_run", lambda run_id: None)
    try:
        flow = make_flow("slow", secrets='{"token": "s3cr3t-value-123"}', steps=[
            http_step(slow.url, config={"url": slow.url + "/x?token={{ secrets.token }}"})])
        run = engine.run_now(flow, FlowRun.Trigger.API, {"request_id": "1"}, timeout=1)
        step = run.steps.get()
        assert (run.status, step.status) == ("running", "running")
        assert "Timed out" in step.error and "s3cr3t-value-123" not in step.error
    finally:
        slow.close()


def test_a_run_keeps_the_version_it_ran_and_can_be_run_again_with_it_or_the_current_one():
    flow = branch_flow()
    first = engine.run_now(flow, FlowRun.Trigger.API, {"ok": True, "name": "a"})
    FlowStep.objects.filter(flow=flow, key="good").update(
        config={"status": "success", "message": "v2 {{ input.name }}"})
    assert publish(flow).number == 2
    assert publish(flow).number == 2  # nothing changed: no new version
    same = engine.rerun(first)
    current = engine.rerun(first, current=True, user="admin")
    assert (same.version.number, current.version.number) == (1, 2)
    assert same.rerun_of == first and same.trigger == "rerun" and same.input == first.input
    assert engine.execute(same.pk).message == "fine a"
    assert engine.execute(current.pk).message == "v2 a"


def test_a_run_another_process_holds_is_not_executed_twice():
    flow = branch_flow()
    run = engine.start(flow, FlowRun.Trigger.API, {"ok": True}, enqueue=False)
    assert engine.claim(run.pk) is not None
    assert engine.execute(run.pk) is None          # leased elsewhere
    assert FlowRun.objects.get(pk=run.pk).steps.count() == 0


def test_a_run_whose_worker_died_resumes_after_the_last_finished_step(receiver):
    flow = make_flow("resume", steps=[http_step(receiver.url, key="first"),
                                       http_step(receiver.url, key="second")])
    run = engine.start(flow, FlowRun.Trigger.API, {"request_id": "1"}, enqueue=False)
    claimed = engine.claim(run.pk)
    # The dead worker finished "first" and had started "second" when it died.
    now = timezone.now()
    StepRun.objects.create(run=claimed, seq=0, key="first", kind="http", status="success",
                           output={"ticket": "T-0"}, started_at=now, finished_at=now)
    StepRun.objects.create(run=claimed, seq=1, key="second", kind="http", started_at=now)
    FlowRun.objects.filter(pk=run.pk).update(lease_until=now - timedelta(seconds=1))
    resumed = engine.execute(run.pk)
    assert resumed.status == "success" and resumed.attempts == 2
    assert len(receiver.requests) == 1            # only "second" ran again
    assert resumed.steps.get(key="second").status == "success"


def test_a_run_that_keeps_losing_its_worker_is_failed_and_says_so(settings):
    settings.FLOW_RUN_MAX_EXECUTIONS = 2
    run = engine.start(branch_flow(), FlowRun.Trigger.API, {"ok": True}, enqueue=False)
    FlowRun.objects.filter(pk=run.pk).update(status="running", attempts=2,
                                             lease_until=timezone.now() - timedelta(seconds=1))
    ended = engine.execute(run.pk)
    assert ended.status == "failed" and "lost its worker 2 times" in ended.message
    assert engine.rerun(ended).status == "queued"


def test_the_sweeper_enqueues_runs_nobody_executes(monkeypatch):
    flow = branch_flow()
    enqueued = []
    monkeypatch.setattr(engine, "enqueue_run", enqueued.append)
    fresh = engine.start(flow, FlowRun.Trigger.API, {}, enqueue=False)
    old = engine.start(flow, FlowRun.Trigger.API, {}, enqueue=False)
    lost = engine.start(flow, FlowRun.Trigger.API, {}, enqueue=False)
    held = engine.start(flow, FlowRun.Trigger.API, {}, enqueue=False)
    done = engine.start(flow, FlowRun.Trigger.API, {}, enqueue=False)
    now = timezone.now()
    FlowRun.objects.filter(pk=old.pk).update(created_at=now - timedelta(minutes=5))
    FlowRun.objects.filter(pk=lost.pk).update(status="running",
                                              lease_until=now - timedelta(seconds=1))
    FlowRun.objects.filter(pk=held.pk).update(status="running",
                                              lease_until=now + timedelta(minutes=5))
    FlowRun.objects.filter(pk=done.pk).update(status="success",
                                              created_at=now - timedelta(minutes=5))
    assert engine.sweep() == 2
    assert sorted(enqueued) == sorted([old.pk, lost.pk]) and fresh.pk not in enqueued
    # The old queued run may just wait in a long queue: not enqueued again at once.
    FlowRun.objects.filter(pk=lost.pk).update(lease_until=now + timedelta(minutes=5))
    assert engine.sweep() == 0
    assert engine.sweep(now=now + timedelta(minutes=6)) >= 1 and old.pk in enqueued[2:]


def test_an_execution_that_lost_its_run_to_another_changes_nothing(receiver):
    flow = make_flow("fenced", steps=[http_step(receiver.url)])
    run = engine.start(flow, FlowRun.Trigger.API, {"request_id": "1"}, enqueue=False)
    first = engine.claim(run.pk)
    # The first process outlived its lease; a second took the run over and finished it.
    FlowRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    second = engine.execute(run.pk)
    assert second.status == "success" and second.attempts == 2
    with pytest.raises(engine.LeaseLost):
        engine.renew(first)
    with pytest.raises(engine.LeaseLost):
        engine.finish(first, "failed", "stale")
    assert FlowRun.objects.get(pk=run.pk).status == "success"
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_a_long_step_keeps_its_lease_alive(settings):
    settings.FLOW_RUN_LEASE_SECONDS = 3          # a beat every second, from its own thread
    run = engine.start(branch_flow(), FlowRun.Trigger.API, {}, enqueue=False)
    claimed = engine.claim(run.pk)
    with engine.Heartbeat(claimed) as heartbeat:
        time.sleep(2.2)                           # a step outlasting most of its lease
    assert not heartbeat.lost
    assert FlowRun.objects.get(pk=run.pk).lease_until > timezone.now() + timedelta(seconds=1)


@pytest.mark.django_db(transaction=True)
def test_leaving_a_step_whose_run_was_taken_over_raises_lease_lost(settings):
    settings.FLOW_RUN_LEASE_SECONDS = 3
    run = engine.start(branch_flow(), FlowRun.Trigger.API, {}, enqueue=False)
    claimed = engine.claim(run.pk)
    FlowRun.objects.filter(pk=run.pk).update(attempts=claimed.attempts + 1)  # another execution
    with pytest.raises(engine.LeaseLost), engine.Heartbeat(claimed):
        time.sleep(1.3)                           # the first beat finds the run taken over


def test_pruning_deletes_old_finished_runs_only(settings):
    settings.FLOW_RUN_KEEP_DAYS = 7
    flow = branch_flow()
    old_done = engine.run_now(flow, FlowRun.Trigger.API, {"ok": True})
    old_open = engine.start(flow, FlowRun.Trigger.API, {}, enqueue=False)
    recent = engine.run_now(flow, FlowRun.Trigger.API, {"ok": True})
    FlowRun.objects.filter(pk__in=[old_done.pk, old_open.pk]).update(
        created_at=timezone.now() - timedelta(days=8))
    assert engine.prune() == 1
    assert set(FlowRun.objects.values_list("pk", flat=True)) == {old_open.pk, recent.pk}
    assert not StepRun.objects.filter(run_id=old_done.pk).exists()


def test_a_flow_without_a_saved_version_cannot_start():
    from actionflow.models import ActionFlow

    flow = ActionFlow.objects.create(name="draft", trigger="called")
    with pytest.raises(engine.FlowNotReady):
        engine.start(flow, FlowRun.Trigger.API, {})
