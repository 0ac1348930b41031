"""The ESB push type: each push runs a called action flow with the todo as input, and the
flow's outcome is the push's outcome (seed 002's ESB type, issue 7)."""
import json

import pytest

from actionflow.models import FlowRun
from pushconfig.models import PushAttempt, PushRecord
from pushconfig.params import ParamsInvalid, validate_params
from tests.integration.helpers import todo_event
from tests.pushconfig.conftest import deliver_all, make_config, send_directly
from tests.receivers import Answer, Receiver

from .helpers import make_flow

pytestmark = pytest.mark.django_db


def esb_flow(url, name="todo-to-erp", **fields):
    """Forward the todo to an ERP's task API and let its answer decide the push."""
    return make_flow(name, steps=[
        {"key": "erp", "kind": "http", "on_failure": "continue", "config": {
            "url": url + "/tasks", "headers": {"Idempotency-Key": "{{ input.idempotency_key }}"},
            "body": {"id": "{{ input.request_id }}", "user": "{{ input.receiver }}",
                     "title": "{{ input.title }}", "kind": "{{ input.data_set }}"}}},
        {"key": "check", "kind": "branch", "config": {
            "branches": [{"name": "accepted", "conditions": [
                {"left": "{{ steps.erp.status_code }}", "operator": "equals", "right": "200"}],
                "steps": ["ok"]}],
            "otherwise": ["refused"]}},
        {"key": "ok", "kind": "output", "config": {"status": "success", "message": "ERP ok"}},
        {"key": "refused", "kind": "output",
         "config": {"status": "failed", "message": "ERP refused: {{ steps.erp.body.error }}"}},
    ], **fields)


@pytest.fixture
def erp():
    server = Receiver(Answer(body={"ok": True}))
    yield server
    server.close()


def esb_config(flow_name="todo-to-erp"):
    return make_config("http://esb.invalid", identifier="esb", push_type="esb",
                       params={"flow": flow_name, "timeout": 10})


def post(api, *events):
    r = api.post("/api/v1/todo-events/", json.dumps(list(events)),
                 content_type="application/json")
    assert r.status_code in (200, 201), r.content


def test_each_push_runs_the_flow_with_the_todo_and_its_output_decides_success(api, erp):
    esb_flow(erp.url)
    config = esb_config()
    post(api, todo_event())
    deliver_all(config)
    [sent] = erp.requests
    assert sent.json() == {"id": "1001", "user": "lisi", "title": "出差申请-张三", "kind": "todo"}
    record = PushRecord.objects.get(config=config)
    assert sent.headers["Idempotency-Key"] == record.idempotency_key
    assert record.outcome == "success"
    run = FlowRun.objects.get()
    assert (run.trigger, run.push_record_id, run.status) == ("esb", record.pk, "success")
    assert run.input["receiver_login"] == "lisi"
    assert "ERP ok" in PushAttempt.objects.get(record=record).response


def test_an_output_step_failing_fails_the_push_for_good_with_its_message(api, erp):
    erp.answer = Answer(status=422, body={"error": "unknown user lisi"})
    esb_flow(erp.url)
    config = esb_config()
    post(api, todo_event())
    deliver_all(config)
    record = PushRecord.objects.get(config=config)
    assert record.outcome == "failed" and record.permanent
    assert record.reason == "ERP refused: unknown user lisi"


def test_a_flow_failing_in_another_step_is_a_transient_failure_retried_later(api):
    make_flow("broken", steps=[{"key": "call", "kind": "http",
                                 "config": {"url": "http://127.0.0.1:9/x"}}])
    config = esb_config("broken")
    post(api, todo_event())
    [delivery] = send_directly(config)
    assert not delivery.ok and not delivery.permanent and "Cannot connect" in delivery.reason


def test_a_retry_after_a_success_does_not_run_the_flow_again(api, erp):
    esb_flow(erp.url)
    config = esb_config()
    post(api, todo_event())
    first = send_directly(config)
    again = send_directly(config)  # as if the outcome had been lost: the record is still open
    assert first[0].ok and again[0].ok and "succeeded already" in again[0].response
    assert len(erp.requests) == 1 and FlowRun.objects.count() == 1


def test_a_disabled_flow_holds_the_pushes_back_instead_of_failing_them(api, erp):
    esb_flow(erp.url, enabled=False)
    config = esb_config()
    post(api, todo_event())
    [delivery] = send_directly(config)
    assert not delivery.ok and not delivery.permanent and "disabled" in delivery.reason
    assert not erp.requests


def test_the_config_must_name_a_called_flow(workflow):
    make_flow("by-workflow", trigger="workflow", workflow=workflow, moment="after")
    for name, message in [("nope", "There is no action flow named “nope”."),
                          ("by-workflow", "is not a called flow")]:
        with pytest.raises(ParamsInvalid) as refused:
            validate_params("esb", "", {"flow": name})
        assert message in refused.value.errors["flow"][0]


def test_test_connection_says_whether_the_flow_is_ready(erp):
    from pushconfig.delivery import transport_for

    esb_flow(erp.url)
    result = transport_for(esb_config()).test_connection()
    assert result.ok and "version 1 is ready" in result.response


def test_a_flow_an_esb_config_runs_cannot_be_renamed_retriggered_or_deleted(api, erp):
    from django.core.exceptions import ValidationError
    from django.db.models import ProtectedError

    flow = esb_flow(erp.url)
    esb_config()
    for change in ({"name": "renamed"}, {"trigger": "schedule", "cron": "0 2 * * *"}):
        for field, value in change.items():
            setattr(flow, field, value)
        with pytest.raises(ValidationError) as refused:
            flow.full_clean()
        assert "ESB push configs “主OA” run this flow" in str(refused.value)
        flow.refresh_from_db()
    with pytest.raises(ProtectedError):
        flow.delete()
    r = api.delete(f"/api/v1/action-flows/{flow.pk}", HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 409 and "change their flow first" in r.json()["detail"]
    flow.description = "still editable otherwise"
    flow.full_clean()
