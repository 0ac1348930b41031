"""The admin of flow runs: a list that never counts the table, filters and exact search, a
read-only page with the input and every step's log, and re-running a run with the version it
ran or the current one, from its page or in bulk."""
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from actionflow import engine
from actionflow.definition import publish
from actionflow.models import FlowRun
from tests.conftest import make_user

from .helpers import execute_queued, make_flow

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
LIST = "/admin/actionflow/flowrun/"


def page_url(run):
    return f"/admin/actionflow/flowrun/{run.pk}/change/"


def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin):
    return browser(admin)


def greeting_flow(name="greet"):
    return make_flow(name, steps=[
        {"key": "check", "kind": "branch", "config": {
            "branches": [{"name": "named", "conditions": [
                {"left": "{{ input.name }}", "operator": "not_empty"}], "steps": ["hello"]}],
            "otherwise": ["nobody"]}},
        {"key": "hello", "kind": "output",
         "config": {"status": "success", "message": "hello {{ input.name }}"}},
        {"key": "nobody", "kind": "output", "config": {"status": "failed",
                                                       "message": "no name given"}},
    ])


def listed_ids(response):
    return [row.pk for row in response.context["cl"].result_list]


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_the_run_list_pages_without_counting(admin_client):
    flow = greeting_flow()
    for n in range(3):
        engine.run_now(flow, FlowRun.Trigger.API, {"name": str(n)})
    for query in ("", f"?flow={flow.pk}", "?status__exact=success&trigger__exact=api", "?q=1"):
        with CaptureQueriesContext(connection) as queries:
            r = admin_client.get(LIST + query, **EN)
        assert r.status_code == 200
        counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
        assert not counts, (query, counts)
    assert "hello 2" in admin_client.get(LIST, **EN).content.decode()


def test_the_run_list_filters_and_searches_exactly(admin_client):
    greet, other = greeting_flow(), greeting_flow("other")
    ok = engine.run_now(greet, FlowRun.Trigger.API, {"name": "a"}, event_id="ev-77")
    failed = engine.run_now(greet, FlowRun.Trigger.WORKFLOW, {})
    elsewhere = engine.run_now(other, FlowRun.Trigger.API, {"name": "b"})
    assert listed_ids(admin_client.get(LIST, **EN)) == [elsewhere.pk, failed.pk, ok.pk]
    assert listed_ids(admin_client.get(f"{LIST}?flow={greet.pk}", **EN)) == [failed.pk, ok.pk]
    assert listed_ids(admin_client.get(f"{LIST}?status__exact=failed", **EN)) == [failed.pk]
    assert listed_ids(admin_client.get(f"{LIST}?trigger__exact=workflow", **EN)) == [failed.pk]
    assert listed_ids(admin_client.get(f"{LIST}?q=ev-77", **EN)) == [ok.pk]
    assert listed_ids(admin_client.get(f"{LIST}?q=%23{elsewhere.pk}", **EN)) == [elsewhere.pk]
    assert listed_ids(admin_client.get(f"{LIST}?q=ev-7", **EN)) == []
    page = admin_client.get(LIST, **EN).content.decode()
    assert "no name given" in page and "v1" in page


def test_a_run_page_is_read_only_with_its_input_and_step_logs(admin_client):
    run = engine.run_now(greeting_flow(), FlowRun.Trigger.MANUAL, {"name": "王五"})
    r = admin_client.get(page_url(run), **EN)
    assert r.status_code == 200
    page = r.content.decode()
    assert "王五" in page and "hello 王五" in page
    assert "&quot;message&quot;: &quot;hello 王五&quot;" in page  # the step's pretty JSON
    inline = r.context["inline_admin_formsets"][0]
    assert [form.original.key for form in inline] == ["check", "hello"]
    assert 'name="_save"' not in page
    assert admin_client.post(page_url(run), {"message": "edited"}, **EN).status_code == 403
    run.refresh_from_db()
    assert run.message == "hello 王五"
    assert admin_client.get("/admin/actionflow/flowrun/add/", **EN).status_code == 403


def test_a_run_is_rerun_from_its_page_with_either_version(admin_client):
    flow = greeting_flow()
    run = engine.run_now(flow, FlowRun.Trigger.MANUAL, {"name": "赵六"})
    step = flow.steps.get(key="hello")
    step.config = {"status": "success", "message": "welcome {{ input.name }}"}
    step.save()
    publish(flow, "editor")

    page = admin_client.get(page_url(run), **EN).content.decode()
    assert page.count(f'action="/admin/actionflow/flowrun/{run.pk}/rerun/"') == 2
    url = f"/admin/actionflow/flowrun/{run.pk}/rerun/"
    assert admin_client.get(url, **EN).status_code == 405

    r = admin_client.post(url, {"version": "same"}, **EN)
    same = FlowRun.objects.get(rerun_of=run)
    assert r.status_code == 302 and r["Location"] == page_url(same)
    r = admin_client.post(url, {"version": "current"}, follow=True, **EN)
    current = FlowRun.objects.filter(rerun_of=run).exclude(pk=same.pk).get()
    assert f"Run #{run.pk} started again as #{current.pk} with version 2." in messages_of(r)
    assert (same.version.number, current.version.number) == (1, 2)
    assert (same.trigger, same.requested_by) == ("rerun", "admin")
    execute_queued(flow)
    same.refresh_from_db()
    current.refresh_from_db()
    assert (same.message, current.message) == ("hello 赵六", "welcome 赵六")


def test_runs_are_rerun_in_bulk(admin_client):
    flow = greeting_flow()
    first = engine.run_now(flow, FlowRun.Trigger.API, {"name": "a"})
    second = engine.run_now(flow, FlowRun.Trigger.API, {})
    r = admin_client.post(LIST, {"action": "rerun_current",
                                 "_selected_action": [first.pk, second.pk]}, follow=True, **EN)
    reruns = list(FlowRun.objects.filter(trigger="rerun").order_by("rerun_of_id"))
    assert [r.rerun_of_id for r in reruns] == [first.pk, second.pk]
    assert f"2 runs were started again: #{reruns[0].pk}, #{reruns[1].pk}." in messages_of(r)
    admin_client.post(LIST, {"action": "rerun_same", "_selected_action": [first.pk]}, **EN)
    assert FlowRun.objects.filter(rerun_of=first).count() == 2
    assert [run.status for run in execute_queued(flow)] == ["success", "failed", "success"]


def test_rerunning_needs_the_permission_to_run(admin):
    run = engine.run_now(greeting_flow(), FlowRun.Trigger.API, {"name": "a"})
    url = f"/admin/actionflow/flowrun/{run.pk}/rerun/"
    outsider = browser(make_user("outsider"))
    assert outsider.get(LIST, **EN).status_code == 403
    assert outsider.get(page_url(run), **EN).status_code == 403
    assert outsider.post(url, {"version": "same"}, **EN).status_code == 403

    viewer = browser(make_user("viewer", "actionflow.view_flowrun"))
    r = viewer.get(LIST, **EN)
    assert r.status_code == 200
    assert "rerun_same" not in r.content.decode()
    assert url not in viewer.get(page_url(run), **EN).content.decode()
    assert viewer.post(url, {"version": "same"}, **EN).status_code == 403
    viewer.post(LIST, {"action": "rerun_same", "_selected_action": [run.pk]}, **EN)
    assert not FlowRun.objects.filter(rerun_of=run).exists()

    runner = browser(make_user("runner", "actionflow.view_flowrun", "actionflow.add_flowrun"))
    assert runner.post(url, {"version": "same"}, **EN).status_code == 302
    assert FlowRun.objects.get(rerun_of=run).requested_by == "runner"
