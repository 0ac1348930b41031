"""/api/v1/action-flows/: flows written with their whole ordered list of steps, checked like
an admin save (errors name the field and the step), versioned only when what runs changed,
secrets write-only, and run by hand with or without waiting for the outcome."""
import json

import pytest

from actionflow.models import ActionFlow, FlowRun, FlowVersion
from integration.models import Workflow
from tests.conftest import client_for, make_user

from .helpers import execute_queued, make_flow

pytestmark = pytest.mark.django_db

URL = "/api/v1/action-flows/"
# Messages are read in English; without it a request speaks the default language, Chinese.
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def get(client, url):
    return client.get(url, **EN)


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json", **EN)


def put(client, url, body):
    return client.put(url, json.dumps(body), content_type="application/json", **EN)


def patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json", **EN)


def steps(message="ok {{ input.name }}"):
    return [
        {"key": "check", "kind": "branch", "config": {
            "branches": [{"name": "fine", "conditions": [
                {"left": "{{ input.ok }}", "operator": "is_true"}], "steps": ["done"]}],
            "otherwise": ["refuse"]}},
        {"key": "done", "kind": "output", "config": {"status": "success", "message": message}},
        {"key": "refuse", "kind": "output", "name": "Refuse",
         "config": {"status": "failed", "message": "refused"}, "on_failure": "stop"},
    ]


def flow_body(**overrides):
    return {"name": "risk-check", "trigger": "called", "steps": steps(), **overrides}


def created(api, **overrides):
    r = post(api, URL, flow_body(**overrides))
    assert r.status_code == 201, r.content
    return r.json()


def test_it_creates_a_flow_with_its_ordered_steps_and_publishes_version_1(api):
    data = created(api, description="checks a risk")
    assert data["version"] == 1 and data["enabled"] is False
    assert [s["key"] for s in data["steps"]] == ["check", "done", "refuse"]
    assert data["steps"][2]["name"] == "Refuse" and data["steps"][0]["tries"] == 1
    flow = ActionFlow.objects.get(pk=data["id"])
    version = flow.current_version()
    assert version.number == 1 and version.created_by == "admin"
    assert [s["key"] for s in version.definition["steps"]] == ["check", "done", "refuse"]
    assert get(api, f"{URL}{flow.pk}").json()["steps"] == data["steps"]


def test_a_reference_to_a_later_step_is_refused_naming_the_field_and_the_step(api):
    body = flow_body(steps=[
        {"key": "notify", "kind": "output",
         "config": {"status": "success", "message": "{{ steps.lookup.name }}"}},
        {"key": "lookup", "kind": "output", "config": {"status": "success"}},
    ])
    r = post(api, URL, body)
    assert r.status_code == 400, r.content
    errors = r.json()["steps"]
    assert list(errors) == ["0"]
    assert errors["0"]["config"] == ["Step 1 “notify”: message: The step “lookup” comes later; "
                                   "only earlier steps' outputs can be used."]
    assert not ActionFlow.objects.exists()


def test_a_missing_step_an_unknown_kind_and_bad_settings_are_named(api):
    r = post(api, URL, flow_body(steps=[
        {"key": "a", "kind": "output", "config": {"status": "success",
                                                  "message": "{{ steps.ghost.x }}"}},
        {"key": "b", "kind": "teleport", "config": {}},
    ]))
    assert r.status_code == 400
    assert "“teleport” is not a step kind" in r.json()["steps"]["1"]["kind"][0]

    r = post(api, URL, flow_body(steps=[
        {"key": "a", "kind": "output", "config": {"status": "maybe"}},
        {"key": "b", "kind": "output", "config": {"status": "success",
                                                  "message": "{{ steps.ghost.x }}"}},
        {"key": "c", "kind": "output", "config": ["not", "an", "object"]},
        {"key": "9bad", "kind": "output", "config": {"status": "success"}, "tries": 0},
    ]))
    assert r.status_code == 400
    errors = r.json()["steps"]
    assert errors["2"]["config"] == ['Expected a dictionary of items but got type "list".']
    assert set(errors["3"]) == {"key", "tries"}

    r = post(api, URL, flow_body(steps=[
        {"key": "a", "kind": "output", "config": {"status": "maybe"}},
        {"key": "b", "kind": "output", "config": {"status": "success",
                                                  "message": "{{ steps.ghost.x }}"}},
    ]))
    errors = r.json()["steps"]
    assert errors["0"]["config"][0].startswith("Step 1 “a”: status:")
    assert errors["1"]["config"] == ["Step 2 “b”: message: There is no step “ghost”."]


def test_a_repeated_key_is_refused_naming_both_steps(api):
    body = flow_body(steps=[{"key": "done", "kind": "output", "config": {"status": "success"}},
                            {"key": "done", "kind": "output", "config": {"status": "failed"}}])
    r = post(api, URL, body)
    assert r.status_code == 400
    assert r.json()["steps"] == {"1": {"key": ["Step 2 “done”: step 1 has this key."]}}


def test_trigger_settings_are_checked_by_the_model_and_named(api):
    r = post(api, URL, flow_body(trigger="workflow", moment="after"))
    assert r.status_code == 400
    assert r.json() == {"workflow": ["A workflow trigger needs the workflow."]}

    r = post(api, URL, flow_body(trigger="workflow", workflow="no-such-wf"))
    assert r.status_code == 400 and list(r.json()) == ["workflow"]

    r = post(api, URL, flow_body(trigger="schedule", cron="every day"))
    assert r.status_code == 400 and list(r.json()) == ["cron"]

    r = post(api, URL, flow_body(alert_channels=["pigeon"]))
    assert r.status_code == 400 and "pigeon" in r.json()["alert_channels"][0]

    Workflow.objects.create(workflow_id="wf-risk", name="风险处理流程")
    data = created(api, trigger="workflow", workflow="wf-risk", node_name="批准",
                   moment="before", alert_channels=["email", "email"])
    assert (data["workflow"], data["moment"], data["alert_channels"]) == ("wf-risk", "before",
                                                                          ["email"])
    r = post(api, URL, flow_body())
    assert r.status_code == 400 and list(r.json()) == ["name"]


def test_a_version_is_published_only_when_what_runs_changed(api):
    data = created(api)
    url = f"{URL}{data['id']}"

    r = put(api, url, flow_body())
    assert r.status_code == 200, r.content
    assert r.json()["version"] == 1
    r = patch(api, url, {"description": "only words"})
    assert r.status_code == 200 and r.json()["version"] == 1

    r = patch(api, url, {"steps": steps(message="now {{ input.name }}")})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = patch(api, url, {"operator": "lisi"})
    assert r.json()["version"] == 3

    versions = get(api, url + "/versions").json()["results"]
    assert [(v["number"], v["current"]) for v in versions] == [(3, True), (2, False),
                                                               (1, False)]
    assert versions[2]["definition"]["steps"][1]["config"]["message"] == "ok {{ input.name }}"
    assert versions[0]["definition"]["operator"] == "lisi"
    # PATCH without steps keeps them.
    assert [s["key"] for s in get(api, url).json()["steps"]] == ["check", "done", "refuse"]


def test_an_invalid_update_changes_nothing(api):
    data = created(api)
    url = f"{URL}{data['id']}"
    r = patch(api, url, {"name": "renamed", "steps": [
        {"key": "x", "kind": "output", "config": {"status": "success",
                                                  "message": "{{ steps.y.z }}"}}]})
    assert r.status_code == 400 and "steps" in r.json()
    flow = ActionFlow.objects.get(pk=data["id"])
    assert flow.name == "risk-check" and flow.steps.count() == 3 and flow.version == 1


def test_secrets_are_write_only_and_kept_when_sent_back_masked(api):
    data = created(api, secrets={"erp_token": "tok-1234567890abcdef", "pin": "1234"})
    assert data["secrets"] == {"erp_token": "••••••cdef", "pin": "••••••"}
    url = f"{URL}{data['id']}"

    r = patch(api, url, {"secrets": {**data["secrets"], "pin": "9999"}})
    assert r.status_code == 200, r.content
    flow = ActionFlow.objects.get(pk=data["id"])
    assert json.loads(flow.secrets) == {"erp_token": "tok-1234567890abcdef", "pin": "9999"}
    assert "tok-1234567890abcdef" not in json.dumps(get(api, url).json())

    patch(api, url, {"description": "left out: kept"})
    flow.refresh_from_db()
    assert json.loads(flow.secrets)["erp_token"] == "tok-1234567890abcdef"

    r = patch(api, url, {"secrets": {"bad": ["list"]}})
    assert r.status_code == 400 and list(r.json()) == ["secrets"]

    patch(api, url, {"secrets": {}})
    flow.refresh_from_db()
    assert flow.secrets == ""


def test_run_without_wait_queues_a_run_for_a_worker(api):
    flow = make_flow("queued", steps=steps())
    r = post(api, f"{URL}{flow.pk}/run", {"input": {"ok": True, "name": "张三"}})
    assert r.status_code == 202, r.content
    run = FlowRun.objects.get(pk=r.json()["run"])
    assert r.json() == {"run": run.pk, "status": "queued", "version": 1}
    assert (run.trigger, run.requested_by, run.input) == ("api", "admin",
                                                          {"ok": True, "name": "张三"})
    [finished] = execute_queued(flow)
    assert (finished.status, finished.message) == ("success", "ok 张三")


def test_run_with_wait_answers_the_outcome_with_the_step_logs(api):
    flow = make_flow("waited", steps=steps())
    r = post(api, f"{URL}{flow.pk}/run/", {"input": {"ok": False}, "wait": True})
    assert r.status_code == 200, r.content
    data = r.json()
    assert (data["status"], data["message"], data["failed_step"]) == ("failed", "refused",
                                                                      "refuse")
    assert [(s["key"], s["status"]) for s in data["steps"]] == [("check", "success"),
                                                                ("refuse", "success")]
    assert data["steps"][0]["output"] == {"arm": "otherwise", "branch": "otherwise"}
    assert data["trigger"] == "api" and data["version"] == 1


def test_a_disabled_flow_can_still_be_run_by_hand(api):
    flow = make_flow("off", steps=steps(), enabled=False)
    r = post(api, f"{URL}{flow.pk}/run", {"input": {"ok": True, "name": "x"}, "wait": True})
    assert r.status_code == 200 and r.json()["status"] == "success"


def test_run_refuses_a_bad_body_naming_the_field(api):
    flow = make_flow("strict", steps=steps())
    r = post(api, f"{URL}{flow.pk}/run", {"input": ["a"]})
    assert r.status_code == 400 and list(r.json()) == ["input"]
    r = post(api, f"{URL}{flow.pk}/run", {"inputs": {"ok": True}})
    assert r.status_code == 400 and r.json() == {"inputs": ["Unknown field."]}
    r = post(api, f"{URL}{flow.pk}/run", {"wait": "perhaps"})
    assert r.status_code == 400 and list(r.json()) == ["wait"]
    r = api.post(f"{URL}{flow.pk}/run", "{not json", content_type="application/json")
    assert r.status_code == 400
    assert not FlowRun.objects.exists()
    assert post(api, f"{URL}999999/run", {}).status_code == 404


def test_a_flow_never_published_cannot_run(api):
    flow = make_flow("draft", steps=steps(), publish_it=False)
    r = post(api, f"{URL}{flow.pk}/run", {"input": {}})
    assert r.status_code == 409 and "no saved version" in r.json()["detail"]


def test_deleting_a_flow_takes_its_versions_and_runs(api):
    flow = make_flow("gone", steps=steps())
    post(api, f"{URL}{flow.pk}/run", {"input": {"ok": True}, "wait": True})
    assert api.delete(f"{URL}{flow.pk}").status_code == 204
    assert not FlowRun.objects.exists() and not FlowVersion.objects.exists()


def test_it_filters_and_searches_flows(api):
    make_flow("alpha", steps=steps())
    make_flow("beta", steps=steps(), enabled=False)
    names = lambda r: [f["name"] for f in r.json()["results"]]  # noqa: E731
    assert names(get(api, URL + "?enabled=false")) == ["beta"]
    assert names(get(api, URL + "?search=alp")) == ["alpha"]
    assert names(get(api, URL + "?trigger=schedule")) == []


def test_permissions_are_those_of_the_models(outsider_api, operator_api):
    flow = make_flow("guarded", steps=steps())
    assert get(outsider_api, URL).status_code == 403
    assert post(outsider_api, f"{URL}{flow.pk}/run", {}).status_code == 403

    viewer = operator_api("actionflow.view_actionflow")
    assert get(viewer, URL).status_code == 200
    assert get(viewer, f"{URL}{flow.pk}/versions").status_code == 200
    assert post(viewer, URL, flow_body(name="new")).status_code == 403
    assert post(viewer, f"{URL}{flow.pk}/run", {}).status_code == 403

    runner = operator_api("actionflow.view_actionflow", "actionflow.add_flowrun")
    assert post(runner, f"{URL}{flow.pk}/run", {}).status_code == 202

    author = client_for(make_user("author", "actionflow.view_actionflow",
                                  "actionflow.add_actionflow", "actionflow.change_actionflow"))
    r = post(author, URL, flow_body(name="by-author"))
    assert r.status_code == 201
    assert ActionFlow.objects.get(name="by-author").current_version().created_by == "author"
    assert author.delete(f"{URL}{flow.pk}").status_code == 403


def nested(depth):
    value = "x"
    for _level in range(depth):
        value = {"a": value}
    return value


def test_deeply_nested_json_is_a_400_naming_the_field_never_a_500(api):
    deep = nested(600)
    r = post(api, URL, flow_body(steps=[{"key": "a", "kind": "output", "config": {
        "status": "success", "extra": deep}}]))
    assert r.status_code == 400
    assert r.json() == {"steps": {"0": {"config": ["Nested too deeply: at most 32 levels."]}}}
    r = post(api, URL, flow_body(record_filter=[deep]))
    assert r.status_code == 400 and list(r.json()) == ["record_filter"]
    flow = make_flow("deep", steps=steps())
    r = post(api, f"{URL}{flow.pk}/run", {"input": deep})
    assert r.status_code == 400 and list(r.json()) == ["input"]
    assert not FlowRun.objects.exists()
