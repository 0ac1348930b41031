"""/api/v1/flow-runs/ (read-only, filtered, cursor-paginated, step logs, re-run with the
version it ran or the current one), /api/v1/actions/ (the built-in Actions, invoked directly)
and /api/v1/flow-templates/ (ready-made flows)."""
import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actionflow import actions, engine, flow_templates
from actionflow.actions import BOOLEAN, Action, ActionError, Param
from actionflow.definition import publish
from actionflow.flow_templates import FlowTemplate
from actionflow.models import ActionFlow, FlowRun
from integration.models import Workflow

from .helpers import execute_queued, make_flow

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/flow-runs/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def get(client, url):
    return client.get(url, **EN)


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json", **EN)


def greeting_flow(name="greet", message="hello {{ input.name }}"):
    return make_flow(name, steps=[
        {"key": "check", "kind": "branch", "config": {
            "branches": [{"name": "named", "conditions": [
                {"left": "{{ input.name }}", "operator": "not_empty"}], "steps": ["hello"]}],
            "otherwise": ["nobody"]}},
        {"key": "hello", "kind": "output", "config": {"status": "success", "message": message}},
        {"key": "nobody", "kind": "output", "config": {"status": "failed",
                                                       "message": "no name"}},
    ])


def finished_run(flow, input, trigger=FlowRun.Trigger.API, **fields):
    return engine.run_now(flow, trigger, input, **fields)


# -- runs ------------------------------------------------------------------------------------
def test_it_lists_runs_newest_first_with_filters_and_cursor_pages(api):
    greet, other = greeting_flow(), greeting_flow("other")
    ok = finished_run(greet, {"name": "张三"}, event_id="ev-1")
    failed = finished_run(greet, {}, trigger=FlowRun.Trigger.WORKFLOW)
    elsewhere = finished_run(other, {"name": "李四"})
    ids = lambda r: [run["id"] for run in r.json()["results"]]  # noqa: E731

    r = get(api, RUNS)
    assert r.status_code == 200 and ids(r) == [elsewhere.pk, failed.pk, ok.pk]
    first = r.json()["results"][2]
    assert (first["flow_name"], first["version"], first["status"], first["message"],
            first["trigger"], first["event_id"]) == ("greet", 1, "success", "hello 张三", "api",
                                                     "ev-1")
    assert "steps" not in first

    assert ids(get(api, f"{RUNS}?flow={greet.pk}")) == [failed.pk, ok.pk]
    assert ids(get(api, f"{RUNS}?status=failed")) == [failed.pk]
    assert ids(get(api, f"{RUNS}?trigger=workflow")) == [failed.pk]
    assert ids(get(api, f"{RUNS}?event_id=ev-1")) == [ok.pk]
    soon = quote((timezone.now() + timedelta(minutes=1)).isoformat())
    long_ago = quote((timezone.now() - timedelta(days=1)).isoformat())
    assert ids(get(api, f"{RUNS}?created_before={soon}&created_after={long_ago}")) == [
        elsewhere.pk, failed.pk, ok.pk]
    assert ids(get(api, f"{RUNS}?created_after={soon}")) == []

    r = get(api, f"{RUNS}?page_size=2")
    assert ids(r) == [elsewhere.pk, failed.pk] and "count" not in r.json()
    assert ids(get(api, r.json()["next"])) == [ok.pk]

    assert list(get(api, f"{RUNS}?status=lost").json()) == ["status"]
    assert list(get(api, f"{RUNS}?created_after=yesterday").json()) == ["created_after"]


def test_the_run_list_never_counts_the_table(api):
    flow = greeting_flow()
    for n in range(3):
        finished_run(flow, {"name": str(n)})
    with CaptureQueriesContext(connection) as queries:
        assert get(api, f"{RUNS}?flow={flow.pk}&status=success").status_code == 200
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


def test_a_run_shows_its_input_and_every_step_log(api):
    run = finished_run(greeting_flow(), {"name": "王五"})
    r = get(api, f"{RUNS}{run.pk}")
    assert r.status_code == 200
    data = r.json()
    assert data["input"] == {"name": "王五"} and data["status"] == "success"
    assert [(s["seq"], s["key"], s["kind"], s["status"]) for s in data["steps"]] == [
        (0, "check", "branch", "success"), (1, "hello", "output", "success")]
    hello = data["steps"][1]
    assert hello["input"] == {"status": "success", "message": "hello 王五"}
    assert hello["output"] == {"status": "success", "message": "hello 王五"}
    assert hello["tries"] == 1 and hello["duration_ms"] is not None and hello["error"] == ""
    assert get(api, f"{RUNS}999999").status_code == 404


def test_a_run_is_rerun_with_the_version_it_ran_or_the_current_one(api):
    flow = greeting_flow()
    run = finished_run(flow, {"name": "赵六"})
    step = flow.steps.get(key="hello")
    step.config = {"status": "success", "message": "welcome {{ input.name }}"}
    step.save()
    publish(flow, "editor")

    r = post(api, f"{RUNS}{run.pk}/rerun", {})
    assert r.status_code == 202, r.content
    same = FlowRun.objects.get(pk=r.json()["run"])
    assert r.json() == {"run": same.pk, "status": "queued", "version": 1}
    assert (same.trigger, same.rerun_of_id, same.requested_by) == ("rerun", run.pk, "admin")

    r = post(api, f"{RUNS}{run.pk}/rerun/", {"version": "current"})
    assert r.status_code == 202 and r.json()["version"] == 2
    current = FlowRun.objects.get(pk=r.json()["run"])

    execute_queued(flow)
    same.refresh_from_db()
    current.refresh_from_db()
    assert (same.message, current.message) == ("hello 赵六", "welcome 赵六")

    r = post(api, f"{RUNS}{run.pk}/rerun", {"version": "newest"})
    assert r.status_code == 400 and list(r.json()) == ["version"]
    r = post(api, f"{RUNS}{run.pk}/rerun", {"versoin": "same"})
    assert r.status_code == 400 and r.json() == {"versoin": ["Unknown field."]}


def test_runs_need_their_permissions(outsider_api, operator_api):
    run = finished_run(greeting_flow(), {"name": "x"})
    assert get(outsider_api, RUNS).status_code == 403
    viewer = operator_api("actionflow.view_flowrun")
    assert get(viewer, f"{RUNS}{run.pk}").status_code == 200
    assert post(viewer, f"{RUNS}{run.pk}/rerun", {}).status_code == 403
    assert post(viewer, RUNS, {}).status_code in (403, 405)
    runner = operator_api("actionflow.view_flowrun", "actionflow.add_flowrun")
    assert post(runner, f"{RUNS}{run.pk}/rerun", {}).status_code == 202
    assert runner.delete(f"{RUNS}{run.pk}").status_code in (403, 405)
    assert FlowRun.objects.filter(pk=run.pk).exists()


# -- serverless Actions ----------------------------------------------------------------------
class Shout(Action):
    group = "test_shout"
    version = "1.0"
    label = "Shout"
    description = "Upper-cases a text."
    inputs = (Param("text", "Text", required=True),
              Param("trouble", "Trouble", help="transient or permanent"))
    outputs = (Param("status", "Status", BOOLEAN), Param("msg", "Message"),
               Param("operator", "Operator"))

    def run(self, inputs, context):
        if inputs.get("trouble") == "transient":
            raise ActionError("the target timed out", transient=True)
        if inputs.get("trouble") == "permanent":
            raise ActionError("the target refused")
        if not inputs["text"]:
            return {"status": False, "msg": "text is empty"}
        return {"status": True, "msg": inputs["text"].upper(),
                "operator": f"{context.source}:{context.operator}"}


@pytest.fixture
def shout():
    actions.register(Shout)
    yield Shout
    actions.REGISTRY.pop((Shout.group, Shout.version), None)


INVOKE = "/api/v1/actions/test_shout/1.0/invoke"


def test_it_lists_the_registered_actions_with_their_parameters(api, shout):
    r = get(api, "/api/v1/actions/")
    assert r.status_code == 200
    entry = next(a for a in r.json() if a["group"] == "test_shout")
    assert entry == Shout.describe()
    assert [p["name"] for p in entry["inputs"]] == ["text", "trouble"]
    assert entry["inputs"][0]["required"] is True
    assert [p["name"] for p in entry["outputs"]] == ["status", "msg", "operator"]


def test_an_action_is_invoked_with_the_caller_as_operator(api, shout):
    r = post(api, INVOKE, {"inputs": {"text": "archive me"}})
    assert r.status_code == 200, r.content
    assert r.json() == {"group": "test_shout", "version": "1.0", "outputs": {
        "status": True, "msg": "ARCHIVE ME", "operator": "api:admin"}}
    # A failure the Action answers in its outputs is still its answer.
    r = post(api, INVOKE + "/", {"inputs": {"text": ""}})
    assert r.status_code == 200 and r.json()["outputs"] == {"status": False,
                                                            "msg": "text is empty"}


def test_an_action_error_is_a_503_when_retrying_may_help_else_a_422(api, shout):
    r = post(api, INVOKE, {"inputs": {"text": "x", "trouble": "transient"}})
    assert r.status_code == 503
    assert r.json() == {"detail": "the target timed out", "transient": True}
    r = post(api, INVOKE, {"inputs": {"text": "x", "trouble": "permanent"}})
    assert r.status_code == 422 and r.json()["transient"] is False


def test_invoking_refuses_unknown_actions_and_bad_inputs_naming_them(api, shout):
    r = post(api, "/api/v1/actions/test_shout/9.9/invoke", {"inputs": {}})
    assert r.status_code == 404
    assert r.json() == {"detail": "There is no built-in Action “test_shout” version “9.9”."}
    r = post(api, INVOKE, {"inputs": {"txt": "x"}})
    assert r.status_code == 400 and list(r.json()) == ["inputs"]
    assert "txt" in r.json()["inputs"][0]
    r = post(api, INVOKE, {"inputs": {}})
    assert r.status_code == 400 and "text" in r.json()["inputs"][0]
    r = post(api, INVOKE, {"inputs": "text"})
    assert r.status_code == 400 and list(r.json()) == ["inputs"]
    r = post(api, INVOKE, {"input": {"text": "x"}})
    assert r.status_code == 400 and r.json() == {"input": ["Unknown field."]}
    deep = "x"
    for _level in range(200):
        deep = [deep]
    r = post(api, INVOKE, {"inputs": {"text": deep}})
    assert r.status_code == 400 and list(r.json()) == ["inputs"]


def test_actions_need_their_permissions(outsider_api, operator_api, shout):
    assert get(outsider_api, "/api/v1/actions/").status_code == 403
    viewer = operator_api("actionflow.view_actionflow")
    assert get(viewer, "/api/v1/actions").status_code == 200
    assert post(viewer, INVOKE, {"inputs": {"text": "x"}}).status_code == 403
    runner = operator_api("actionflow.view_actionflow", "actionflow.add_flowrun")
    r = post(runner, INVOKE, {"inputs": {"text": "x"}})
    assert r.status_code == 200 and r.json()["outputs"]["operator"] == "api:operator2"


# -- flow templates --------------------------------------------------------------------------
NOTIFY = FlowTemplate(
    key="test-notify", label="Notify the creator", description="Says the request moved on.",
    trigger={"trigger": "workflow", "moment": "after"},
    steps=({"key": "done", "kind": "output",
            "config": {"status": "success", "message": "{{ input.request_id }} moved on"}},))
TEMPLATES = "/api/v1/flow-templates/"


@pytest.fixture
def notify_template():
    flow_templates.register(NOTIFY)
    yield NOTIFY
    flow_templates.REGISTRY.pop(NOTIFY.key, None)


def test_it_lists_the_flow_templates(api, notify_template):
    r = get(api, TEMPLATES)
    assert r.status_code == 200
    entry = next(t for t in r.json() if t["key"] == "test-notify")
    assert entry["label"] == "Notify the creator"
    assert entry["trigger"] == {"trigger": "workflow", "moment": "after"}
    assert [s["key"] for s in entry["steps"]] == ["done"]


def test_a_flow_is_created_from_a_template_disabled_and_published(api, notify_template):
    Workflow.objects.create(workflow_id="wf-risk", name="风险处理流程")
    r = post(api, TEMPLATES + "test-notify/create",
             {"name": "notify risk", "workflow": "wf-risk", "node_name": "批准",
              "moment": "before"})
    assert r.status_code == 201, r.content
    data = r.json()
    assert (data["name"], data["enabled"], data["version"], data["workflow"], data["node_name"],
            data["moment"]) == ("notify risk", False, 1, "wf-risk", "批准", "before")
    flow = ActionFlow.objects.get(pk=data["id"])
    assert flow.current_version().created_by == "admin"
    assert [s["key"] for s in data["steps"]] == ["done"]


def test_template_creation_refuses_bad_input_naming_the_field(api, notify_template):
    r = post(api, TEMPLATES + "no-such/create", {"name": "x"})
    assert r.status_code == 404 and "no-such" in r.json()["detail"]
    r = post(api, TEMPLATES + "test-notify/create", {"name": "x", "workflow": "nope"})
    assert r.status_code == 400 and list(r.json()) == ["workflow"]
    r = post(api, TEMPLATES + "test-notify/create", {"name": "x", "moment": "during"})
    assert r.status_code == 400 and list(r.json()) == ["moment"]
    # The template's workflow trigger needs a workflow: the model's refusal is passed on.
    r = post(api, TEMPLATES + "test-notify/create", {"name": "x"})
    assert r.status_code == 400 and "workflow" in r.json()["non_field_errors"][0]
    make_flow("taken")
    r = post(api, TEMPLATES + "test-notify/create", {"name": "taken"})
    assert r.status_code == 400 and list(r.json()) == ["name"]
    assert not ActionFlow.objects.exclude(name="taken").exists()


def test_templates_need_their_permissions(outsider_api, operator_api, notify_template):
    Workflow.objects.create(workflow_id="wf-risk", name="风险处理流程")
    body = {"name": "by viewer", "workflow": "wf-risk"}
    assert get(outsider_api, TEMPLATES).status_code == 403
    viewer = operator_api("actionflow.view_actionflow")
    assert get(viewer, TEMPLATES).status_code == 200
    assert post(viewer, TEMPLATES + "test-notify/create", body).status_code == 403
    author = operator_api("actionflow.view_actionflow", "actionflow.add_actionflow")
    assert post(author, TEMPLATES + "test-notify/create", body).status_code == 201
