"""The built-in step kinds not covered elsewhere: a serverless Action (inputs mapped, outputs
declared, bad inputs answered not raised, transient trouble retried) and calling another flow."""
import pytest

from actionflow import actions, engine
from actionflow.actions import Action, ActionError, Param
from actionflow.definition import check_steps, publish
from actionflow.models import FlowRun

from .helpers import make_flow

pytestmark = pytest.mark.django_db


class Echo(Action):
    group, version, label = "test_echo", "1.0", "Echo"
    inputs = (Param("name", "Name", required=True), Param("times", "Times", actions.NUMBER))
    outputs = (Param("status", "Status", actions.BOOLEAN), Param("msg", "Message"))
    calls = []

    def run(self, inputs, context):
        Echo.calls.append((inputs, context))
        if inputs.get("name") == "flaky" and len(Echo.calls) < 2:
            raise ActionError("busy", transient=True)
        if not inputs.get("name"):
            return {"status": False, "msg": "name is required"}
        return {"status": True, "msg": f"hello {inputs['name']}" * int(inputs.get("times") or 1)}


@pytest.fixture(autouse=True)
def echo_action():
    actions.register(Echo)
    Echo.calls = []
    yield
    actions.REGISTRY.pop(("test_echo", "1.0"))


def action_step(**inputs):
    return {"key": "echo", "kind": "action", "tries": 2, "retry_wait": 0,
            "config": {"group": "test_echo", "version": "1.0", "inputs": inputs}}


def test_an_action_runs_with_mapped_inputs_and_later_steps_read_its_outputs():
    flow = make_flow("greet", steps=[
        action_step(name="{{ input.who }}", times="{{ input.n }}"),
        {"key": "out", "kind": "output",
         "config": {"status": "success", "message": "{{ steps.echo.msg }}"}}])
    run = engine.run_now(flow, FlowRun.Trigger.API, {"who": "李四", "n": 2})
    assert run.status == "success" and run.message == "hello 李四hello 李四"
    inputs, context = Echo.calls[0]
    assert inputs == {"name": "李四", "times": 2}
    assert (context.source, context.run_id, context.flow_id) == ("flow", run.pk, flow.pk)


def test_transient_action_trouble_is_tried_again():
    run = engine.run_now(make_flow("flaky", steps=[action_step(name="flaky")]),
                         FlowRun.Trigger.API, {})
    assert run.status == "success" and run.steps.get().tries == 2


def test_an_action_step_must_name_a_known_action_and_map_its_required_inputs():
    found = check_steps([
        {"key": "a", "kind": "action", "config": {"group": "nope", "version": "9"}},
        {"key": "b", "kind": "action", "config": {"group": "test_echo", "version": "1.0",
                                                  "inputs": {"times": 1}}},
        {"key": "c", "kind": "action", "config": {"group": "test_echo", "version": "1.0",
                                                  "inputs": {"name": "x", "colour": "red"}}},
    ])
    assert "There is no built-in Action “nope” version “9”." in found[0][0]
    assert "Map the required inputs: name." in found[1][0]
    assert "has no input colour" in found[2][0]


def test_a_flow_calls_another_and_waits_for_its_outcome():
    make_flow("child", steps=[{"key": "out", "kind": "output", "config": {
        "status": "{{ input.verdict }}", "message": "child says {{ input.verdict }}"}}])
    parent = make_flow("parent", steps=[
        {"key": "call", "kind": "call_flow", "config": {
            "flow": "child", "input": {"verdict": "{{ input.verdict }}"}}},
        {"key": "out", "kind": "output", "config": {
            "status": "success", "message": "{{ steps.call.message }} (run {{ steps.call.run }})"}}])
    run = engine.run_now(parent, FlowRun.Trigger.API, {"verdict": "success"})
    child = FlowRun.objects.get(flow__name="child")
    assert run.message == f"child says success (run {child.pk})"
    assert child.parent_run == run and child.trigger == "flow"
    failed = engine.run_now(parent, FlowRun.Trigger.API, {"verdict": "failed"})
    assert failed.status == "failed" and failed.message.endswith("child says failed")


def test_a_call_flow_step_names_an_existing_called_flow(workflow):
    make_flow("wf", trigger="workflow", workflow=workflow, moment="after")
    found = check_steps([{"key": "a", "kind": "call_flow", "config": {"flow": "ghost"}},
                         {"key": "b", "kind": "call_flow", "config": {"flow": "wf"}}])
    assert "There is no action flow named “ghost”." in found[0][0]
    assert "“wf” is not a called flow." in found[1][0]


def test_flows_calling_each_other_in_a_loop_stop_at_the_depth_limit():
    loop = make_flow("loop", steps=[{"key": "again", "kind": "output",
                                      "config": {"status": "success"}}])
    loop.steps.update(kind="call_flow", config={"flow": "loop"})
    publish(loop)
    run = engine.run_now(loop, FlowRun.Trigger.API, {})
    assert run.status == "failed" and "levels deep" in run.message


def test_a_parent_resumed_after_its_worker_died_does_not_call_the_flow_twice():
    from datetime import timedelta

    from django.utils import timezone

    make_flow("child", steps=[{"key": "out", "kind": "output",
                                "config": {"status": "success", "message": "child done"}}])
    parent = make_flow("parent", steps=[
        {"key": "call", "kind": "call_flow", "config": {"flow": "child"}}])
    run = engine.run_now(parent, FlowRun.Trigger.API, {})
    # The parent's worker died after the child finished, before the step was logged done.
    run.steps.filter(key="call").update(status="running")
    FlowRun.objects.filter(pk=run.pk).update(status="running",
                                             lease_until=timezone.now() - timedelta(seconds=1))
    resumed = engine.execute(run.pk)
    assert resumed.status == "success"
    assert FlowRun.objects.filter(flow__name="child").count() == 1
    assert resumed.steps.get(key="call").output["message"] == "child done"
