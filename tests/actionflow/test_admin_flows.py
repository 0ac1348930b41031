"""The admin of action flows: a flow added with its steps through the form, a reference to a
missing or later step refused with a message naming the step (nothing saved), versions
published only when what runs changed, secrets masked, "Run now", "Create from template",
bulk enable/disable, and permissions."""
import json

import pytest
from django.test import Client
from django_celery_beat.models import PeriodicTask

from actionflow import flow_templates
from actionflow.flow_templates import FlowTemplate
from actionflow.models import ActionFlow, FlowRun
from integration.models import Workflow
from tests.conftest import make_user

from .helpers import execute_queued, make_flow

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ADD = "/admin/actionflow/actionflow/add/"
LIST = "/admin/actionflow/actionflow/"

OUTPUT = {"status": "success", "message": "done {{ input.request_id }}"}
STEPS = [
    {"key": "check", "kind": "branch", "config": {
        "branches": [{"name": "known", "conditions": [
            {"left": "{{ input.request_id }}", "operator": "not_empty"}], "steps": ["done"]}],
        "otherwise": ["refuse"]}},
    {"key": "done", "kind": "output", "config": OUTPUT},
    {"key": "refuse", "kind": "output", "name": "Refuse",
     "config": {"status": "failed", "message": "which request?"}},
]


def change_url(flow):
    return f"/admin/actionflow/actionflow/{flow.pk}/change/"


def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin):
    return browser(admin)


def form_data(name="risk-check", steps=STEPS, flow=None, **fields):
    """The flow form as the admin page posts it; `steps` in order, each with its id when the
    flow already has it."""
    data = {"name": name, "description": "", "trigger": "called", "workflow": "",
            "node_name": "", "moment": "after", "before_timeout": "10", "record_kind": "",
            "date_field": "", "delay_amount": "1", "delay_unit": "days", "record_filter": "[]",
            "cron": "", "operator": "", "secrets": ""}
    data.update(fields)
    existing = {s.key: s.pk for s in flow.steps.all()} if flow else {}
    data.update({"steps-TOTAL_FORMS": str(len(steps)), "steps-INITIAL_FORMS": str(len(existing)),
                 "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000"})
    # Saved steps come first, as the page lists them.
    ordered = sorted(steps, key=lambda s: s["key"] not in existing)
    for index, step in enumerate(ordered):
        prefix = f"steps-{index}-"
        data.update({prefix + "order": str(step.get("order", steps.index(step) + 1)),
                     prefix + "key": step["key"], prefix + "name": step.get("name", ""),
                     prefix + "kind": step["kind"],
                     prefix + "config": json.dumps(step.get("config", {}), ensure_ascii=False),
                     prefix + "tries": str(step.get("tries", 1)),
                     prefix + "retry_wait": str(step.get("retry_wait", 10)),
                     prefix + "on_failure": step.get("on_failure", "stop")})
        if step["key"] in existing:
            data[prefix + "id"] = str(existing[step["key"]])
            data[prefix + "flow"] = str(flow.pk)
    return data


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_it_adds_a_flow_with_its_steps_and_publishes_version_1(admin_client):
    r = admin_client.post(ADD, form_data(enabled="on"), follow=True, **EN)
    assert r.status_code == 200
    flow = ActionFlow.objects.get(name="risk-check")
    assert "Version 1 of “risk-check” was published." in messages_of(r)
    assert flow.enabled and flow.version == 1
    assert list(flow.steps.values_list("key", "kind", "order")) == [
        ("check", "branch", 1), ("done", "output", 2), ("refuse", "output", 3)]
    version = flow.current_version()
    assert version.created_by == "admin"
    assert [s["key"] for s in version.definition["steps"]] == ["check", "done", "refuse"]
    assert version.definition["steps"][1]["config"] == OUTPUT


def test_a_reference_to_a_later_step_is_refused_naming_the_step_and_nothing_is_saved(
        admin_client):
    steps = [{"key": "notify", "kind": "output",
              "config": {"status": "success", "message": "{{ steps.lookup.name }}"}},
             {"key": "lookup", "kind": "output", "config": {"status": "success"}}]
    r = admin_client.post(ADD, form_data(steps=steps), **EN)
    assert r.status_code == 200
    page = r.content.decode()
    message = ("message: The step “lookup” comes later; only earlier steps' outputs can be "
               "used.")
    formset = r.context["inline_admin_formsets"][0].formset
    assert formset.non_form_errors() == [f"Step 1 “notify”: {message}"]
    assert formset.forms[0].non_field_errors() == [message]
    assert "Step 1 “notify”: message: The step “lookup” comes later" in page
    assert not ActionFlow.objects.exists()

    steps[0]["config"]["message"] = "{{ steps.nowhere.name }}"
    r = admin_client.post(ADD, form_data(steps=steps), **EN)
    assert "Step 1 “notify”: message: There is no step “nowhere”." in r.content.decode()
    assert not ActionFlow.objects.exists()


def test_a_step_order_decides_what_comes_earlier(admin_client):
    # Listed first but ordered second: the reference to "lookup" is to an earlier step.
    steps = [{"key": "notify", "kind": "output", "order": 2,
              "config": {"status": "success", "message": "{{ steps.lookup.status }}"}},
             {"key": "lookup", "kind": "output", "order": 1, "config": {"status": "success"}}]
    r = admin_client.post(ADD, form_data(steps=steps), **EN)
    assert r.status_code == 302, r.context["inline_admin_formsets"][0].formset.non_form_errors()
    flow = ActionFlow.objects.get()
    assert [s["key"] for s in flow.current_version().definition["steps"]] == ["lookup", "notify"]


def test_bad_settings_and_unknown_kinds_are_refused_at_their_step(admin_client):
    steps = [{"key": "done", "kind": "output", "config": {"status": "perhaps"}}]
    r = admin_client.post(ADD, form_data(steps=steps), **EN)
    formset = r.context["inline_admin_formsets"][0].formset
    assert formset.non_form_errors()[0].startswith("Step 1 “done”: status:")

    steps = [{"key": "done", "kind": "teleport", "config": {}}]
    r = admin_client.post(ADD, form_data(steps=steps), **EN)
    assert "kind" in r.context["inline_admin_formsets"][0].formset.forms[0].errors

    steps = [{"key": "done", "kind": "output", "config": {}},
             {"key": "done", "kind": "output", "config": {"status": "success"}}]
    r = admin_client.post(ADD, form_data(steps=steps), **EN)
    assert r.status_code == 200
    assert not ActionFlow.objects.exists()


def test_saving_publishes_a_version_only_when_what_runs_changed(admin_client):
    admin_client.post(ADD, form_data(), **EN)
    flow = ActionFlow.objects.get()

    r = admin_client.post(change_url(flow), form_data(flow=flow, description="words only"),
                          follow=True, **EN)
    assert "What runs did not change: “risk-check” stays at version 1." in messages_of(r)
    flow.refresh_from_db()
    assert flow.version == 1 and flow.description == "words only"

    changed = [dict(s) for s in STEPS]
    changed[1] = {**changed[1], "config": {"status": "success", "message": "finished"}}
    r = admin_client.post(change_url(flow), form_data(flow=flow, steps=changed), follow=True,
                          **EN)
    assert "Version 2 of “risk-check” was published." in messages_of(r)
    flow.refresh_from_db()
    assert flow.version == 2
    assert flow.versions.get(number=1).definition["steps"][1]["config"] == OUTPUT

    page = admin_client.get(change_url(flow), **EN).content.decode()
    assert page.index('data-version="2"') < page.index('data-version="1"')
    assert "v2 (current)" in page


def test_secrets_are_never_shown_and_blank_keeps_them(admin_client):
    secret = '{"erp_token": "tok-1234567890abcdef"}'
    admin_client.post(ADD, form_data(secrets=secret), **EN)
    flow = ActionFlow.objects.get()
    assert json.loads(flow.secrets) == {"erp_token": "tok-1234567890abcdef"}

    page = admin_client.get(change_url(flow), **EN).content.decode()
    assert "tok-1234567890abcdef" not in page and "••••••cdef" in page

    admin_client.post(change_url(flow), form_data(flow=flow, operator="lisi"), **EN)
    flow.refresh_from_db()
    assert flow.operator == "lisi" and json.loads(flow.secrets)["erp_token"].startswith("tok-")

    r = admin_client.post(change_url(flow), form_data(flow=flow, secrets="[1, 2]"), **EN)
    assert r.status_code == 200 and "secrets" in r.context["adminform"].form.errors

    admin_client.post(change_url(flow), form_data(flow=flow, secrets="{}"), **EN)
    flow.refresh_from_db()
    assert flow.secrets == ""


def test_trigger_settings_are_checked_by_the_model(admin_client):
    r = admin_client.post(ADD, form_data(trigger="workflow"), **EN)
    assert r.context["adminform"].form.errors["workflow"] == [
        "A workflow trigger needs the workflow."]
    r = admin_client.post(ADD, form_data(trigger="schedule", cron="sometimes"), **EN)
    assert "cron" in r.context["adminform"].form.errors
    workflow = Workflow.objects.create(workflow_id="wf-risk", name="风险处理流程")
    r = admin_client.post(ADD, form_data(trigger="workflow", workflow=str(workflow.pk),
                                         node_name="批准", moment="before",
                                         alert_channels=["email"]), **EN)
    assert r.status_code == 302
    flow = ActionFlow.objects.get()
    assert (flow.workflow, flow.moment, flow.alert_channels) == (workflow, "before", ["email"])


def test_the_form_explains_each_step_kind_with_an_example(admin_client):
    page = admin_client.get(ADD, **EN).content.decode()
    assert 'id="flow-step-kinds"' in page
    for kind in ("action", "branch", "output", "http"):
        assert f"<code>{kind}</code>" in page
    assert "Calls an external system" in page and "&quot;outputs&quot;" in page
    assert "{{ steps.&lt;key&gt;.&lt;output&gt; }} (an earlier step&#x27;s output)" in page
    for title in ("Workflow trigger", "Date-field trigger", "Schedule trigger",
                  "Alerts when a run fails"):
        assert title in page


def test_the_list_shows_the_trigger_version_and_last_run(admin_client):
    flow = make_flow("nightly", trigger=ActionFlow.Trigger.SCHEDULE, cron="0 2 * * *",
                     steps=[{"key": "done", "kind": "output", "config": OUTPUT}])
    make_flow("idle")
    from actionflow import engine

    run = engine.run_now(flow, FlowRun.Trigger.MANUAL, {"request_id": "1"})
    page = admin_client.get(LIST, **EN).content.decode()
    assert "0 2 * * *" in page
    assert f'href="/admin/actionflow/flowrun/{run.pk}/change/"' in page
    assert f"#{run.pk} Succeeded" in page
    assert "nightly" in admin_client.get(LIST + "?q=nigh", **EN).content.decode()
    assert "idle" not in admin_client.get(LIST + "?trigger__exact=schedule",
                                          **EN).content.decode()


def test_run_now_queues_a_run_with_the_input_and_opens_it(admin_client):
    admin_client.post(ADD, form_data(), **EN)  # disabled: a manual run is still allowed
    flow = ActionFlow.objects.get()
    page = admin_client.get(change_url(flow), **EN).content.decode()
    assert f'href="/admin/actionflow/actionflow/{flow.pk}/run/"' in page

    url = f"/admin/actionflow/actionflow/{flow.pk}/run/"
    assert admin_client.get(url, **EN).status_code == 200
    r = admin_client.post(url, {"input": '{"request_id": "1001"}'}, **EN)
    run = FlowRun.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/admin/actionflow/flowrun/{run.pk}/change/"
    assert (run.trigger, run.status, run.requested_by, run.input) == (
        "manual", "queued", "admin", {"request_id": "1001"})
    execute_queued(flow)
    page = admin_client.get(r["Location"], **EN).content.decode()
    assert "done 1001" in page and "Succeeded" in page


def test_run_now_can_wait_for_the_outcome(admin_client):
    flow = make_flow("waits", steps=STEPS)
    url = f"/admin/actionflow/actionflow/{flow.pk}/run/"
    r = admin_client.post(url, {"input": "{}", "wait": "on"}, follow=True, **EN)
    run = FlowRun.objects.get()
    assert (run.status, run.message) == ("failed", "which request?")
    assert f"Run #{run.pk} of “waits” (version 1) is failed." in messages_of(r)


def test_run_now_refuses_input_that_is_not_an_object(admin_client):
    flow = make_flow("strict", steps=STEPS)
    url = f"/admin/actionflow/actionflow/{flow.pk}/run/"
    for text in ('["a"]', "{broken", '{"a": ' + "[" * 100 + "]" * 100 + "}"):
        r = admin_client.post(url, {"input": text}, **EN)
        assert r.status_code == 200 and "input" in r.context["form"].errors
    assert not FlowRun.objects.exists()


def test_run_now_on_a_flow_never_published_says_so(admin_client):
    flow = make_flow("draft", steps=STEPS, publish_it=False)
    r = admin_client.post(f"/admin/actionflow/actionflow/{flow.pk}/run/", {"input": "{}"}, **EN)
    assert r.status_code == 200
    assert "has no saved version yet" in r.content.decode()


NOTIFY = FlowTemplate(
    key="test-admin-notify", label="Notify the creator",
    description="Says the request moved on.", trigger={"trigger": "workflow", "moment": "after"},
    steps=({"key": "done", "kind": "output",
            "config": {"status": "success", "message": "{{ input.request_id }} moved on"}},))


@pytest.fixture
def notify_template():
    flow_templates.register(NOTIFY)
    yield NOTIFY
    flow_templates.REGISTRY.pop(NOTIFY.key, None)


def test_a_flow_is_created_from_a_template(admin_client, notify_template):
    assert 'href="/admin/actionflow/actionflow/from-template/"' in admin_client.get(
        LIST, **EN).content.decode()
    url = "/admin/actionflow/actionflow/from-template/"
    page = admin_client.get(url, **EN).content.decode()
    assert 'data-key="test-admin-notify"' in page and "Notify the creator" in page

    workflow = Workflow.objects.create(workflow_id="wf-risk", name="风险处理流程")
    r = admin_client.post(url, {"template": "test-admin-notify", "name": "notify risk",
                                "workflow": str(workflow.pk), "node_name": "批准",
                                "moment": "before"}, **EN)
    flow = ActionFlow.objects.get(name="notify risk")
    assert r.status_code == 302 and r["Location"] == change_url(flow)
    assert (flow.enabled, flow.version, flow.workflow, flow.moment) == (False, 1, workflow,
                                                                        "before")
    assert flow.current_version().created_by == "admin"

    r = admin_client.post(url, {"template": "test-admin-notify", "name": "notify risk",
                                "workflow": str(workflow.pk)}, **EN)
    assert r.context["form"].errors["name"] == [
        "An action flow named “notify risk” exists already."]
    # The template's trigger needs a workflow: the model's refusal is shown.
    r = admin_client.post(url, {"template": "test-admin-notify", "name": "other"}, **EN)
    assert "workflow" in " ".join(r.context["form"].non_field_errors())
    assert ActionFlow.objects.count() == 1


def test_flows_are_enabled_and_disabled_in_bulk_with_their_schedules(admin_client):
    flow = make_flow("nightly", trigger=ActionFlow.Trigger.SCHEDULE, cron="0 2 * * *",
                     enabled=False)
    other = make_flow("other", enabled=False)

    def task():
        return PeriodicTask.objects.filter(task="actionflow.tasks.run_scheduled").first()

    assert task() is None
    r = admin_client.post(LIST, {"action": "enable_flows",
                                 "_selected_action": [flow.pk, other.pk]}, follow=True, **EN)
    assert "2 action flows were enabled." in messages_of(r)
    assert ActionFlow.objects.filter(enabled=True).count() == 2 and task().enabled
    admin_client.post(LIST, {"action": "disable_flows", "_selected_action": [flow.pk]}, **EN)
    flow.refresh_from_db()
    assert not flow.enabled and not task().enabled


def test_outsiders_and_viewers_get_no_further_than_their_permissions(admin):
    flow = make_flow("guarded", steps=STEPS)
    run_url = f"/admin/actionflow/actionflow/{flow.pk}/run/"
    outsider = browser(make_user("outsider"))
    assert outsider.get(LIST, **EN).status_code == 403
    assert outsider.get(run_url, **EN).status_code == 403
    assert outsider.post(run_url, {"input": "{}"}, **EN).status_code == 403

    viewer = browser(make_user("viewer", "actionflow.view_actionflow"))
    page = viewer.get(change_url(flow), **EN).content.decode()
    assert run_url not in page
    assert viewer.post(run_url, {"input": "{}"}, **EN).status_code == 403
    assert viewer.get("/admin/actionflow/actionflow/from-template/", **EN).status_code == 403
    assert not FlowRun.objects.exists()

    runner = browser(make_user("runner", "actionflow.view_actionflow",
                               "actionflow.add_flowrun"))
    assert run_url in runner.get(change_url(flow), **EN).content.decode()
    assert runner.post(run_url, {"input": "{}"}, **EN).status_code == 302
    assert FlowRun.objects.get().requested_by == "runner"


def test_deleting_a_flow_counts_its_runs_and_takes_them(admin_client):
    from actionflow import engine

    flow = make_flow("doomed", steps=STEPS)
    for _n in range(3):
        engine.run_now(flow, FlowRun.Trigger.API, {"request_id": "1"})
    url = f"/admin/actionflow/actionflow/{flow.pk}/delete/"
    r = admin_client.get(url, **EN)
    assert r.status_code == 200
    assert dict(r.context["model_count"])["flow runs"] == 3
    assert admin_client.post(url, {"post": "yes"}, **EN).status_code == 302
    assert not ActionFlow.objects.exists() and not FlowRun.objects.exists()
