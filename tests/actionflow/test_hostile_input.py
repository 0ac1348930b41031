"""What PostgreSQL cannot take — a NUL character or a lone surrogate in text, NaN or 1e400 in
JSON — sent to the action-flow API and admin: a 400 (or a form error) naming the field before
any query, encryption or jsonb sees it. Never a 500."""
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from actionflow.models import ActionFlow, FlowRun
from actionflow.steps.im import IMMessageConfig

from .helpers import make_flow

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
URL = "/api/v1/action-flows/"
NUL = "Null characters are not allowed."
SURROGATE = "Text holds an unpaired surrogate character."
NOT_FINITE = "Numbers must be finite: no NaN or Infinity."
# Bad values, and what check_json says of each. JSON text cannot carry 1e400 through
# json.dumps (it writes Infinity, which DRF's parser refuses itself): it is written in by hand.
BAD_JSON = [("a\x00b", NUL), ("\ud800", SURROGATE), ("1e400", NOT_FINITE)]
OUTPUT = {"key": "done", "kind": "output", "config": {"status": "success"}}


def raw_json(body, bad):
    """`body` as JSON text, its "BAD" value replaced by `bad`."""
    text = json.dumps(body)
    return text.replace('"BAD"', bad if bad == "1e400" else json.dumps(bad))


def post(client, url, body, bad):
    return client.post(url, raw_json(body, bad), content_type="application/json", **EN)


def flow_body(**overrides):
    return {"name": "hostile", "trigger": "called", "steps": [OUTPUT], **overrides}


# -- the API -------------------------------------------------------------------------------
@pytest.mark.parametrize(("bad", "message"), BAD_JSON)
def test_a_run_input_jsonb_cannot_hold_is_refused(api, bad, message):
    flow = make_flow("runs", steps=[OUTPUT])
    r = post(api, f"{URL}{flow.pk}/run", {"input": {"name": "BAD"}, "wait": True}, bad)
    assert r.status_code == 400, r.content
    assert r.json() == {"input": [message]}
    assert not FlowRun.objects.exists()


@pytest.mark.parametrize(("bad", "message"), BAD_JSON)
def test_a_step_setting_jsonb_cannot_hold_is_refused_even_one_the_kind_ignores(api, bad,
                                                                                message):
    step = {**OUTPUT, "config": {"status": "success", "note": {"deep": ["BAD"]}}}
    r = post(api, URL, flow_body(steps=[step]), bad)
    assert r.status_code == 400, r.content
    assert r.json() == {"steps": {"0": {"config": [message]}}}
    assert not ActionFlow.objects.exists()


# 1e400 left out: DRF's JSONField refuses it itself ("Value must be valid JSON.").
@pytest.mark.parametrize(("bad", "message"), BAD_JSON[:2])
def test_a_record_filter_jsonb_cannot_hold_is_refused(api, bad, message):
    body = flow_body(record_filter=[{"field": "data_set", "operator": "equals", "value": "BAD"}])
    r = post(api, URL, body, bad)
    assert r.status_code == 400, r.content
    assert r.json() == {"record_filter": [message]}
    assert not ActionFlow.objects.exists()


@pytest.mark.parametrize("secrets", [{"token": "\ud800"}, {"\ud800": "x"}, {"token": "a\x00"}])
def test_a_secret_that_cannot_be_encrypted_is_refused(api, secrets):
    r = api.post(URL, json.dumps(flow_body(secrets=secrets)), content_type="application/json",
                 **EN)
    assert r.status_code == 400, r.content
    assert list(r.json()) == ["secrets"]
    assert not ActionFlow.objects.exists()


@pytest.mark.parametrize(("field", "many"), [("workflow", False), ("alert_persons", True),
                                             ("alert_roles", True)])
@pytest.mark.parametrize(("bad", "message"), BAD_JSON[:2])
def test_a_flow_refuses_a_reference_it_cannot_look_up(api, field, many, bad, message):
    r = post(api, URL, flow_body(**{field: ["BAD"] if many else "BAD"}), bad)
    assert r.status_code == 400, r.content
    assert r.json() == {field: [message]}


@pytest.mark.parametrize(("bad", "message"), BAD_JSON[:2])
def test_a_template_refuses_a_workflow_it_cannot_look_up(api, bad, message):
    r = post(api, "/api/v1/flow-templates/archive_intias_wf/create",
             {"name": "from-template", "workflow": "BAD"}, bad)
    assert r.status_code == 400, r.content
    assert r.json() == {"workflow": [message]}
    assert not ActionFlow.objects.exists()


@pytest.mark.parametrize(("bad", "message"), BAD_JSON[:2])
def test_an_im_account_is_checked_as_text_before_it_is_looked_up(bad, message):
    config = IMMessageConfig(data={"recipients": ["lisi"], "title": "hi", "account": bad})
    with CaptureQueriesContext(connection) as queries:
        assert not config.is_valid()
    assert len(config.errors["account"]) == 1 and not queries.captured_queries


# -- the admin -----------------------------------------------------------------------------
@pytest.fixture
def admin_client(admin):
    client = Client()
    client.force_login(admin)
    return client


def form_data(config="{}", record_filter="[]"):
    return {"name": "hostile", "description": "", "trigger": "called", "workflow": "",
            "node_name": "", "moment": "after", "before_timeout": "10", "record_kind": "",
            "date_field": "", "delay_amount": "1", "delay_unit": "days",
            "record_filter": record_filter, "cron": "", "operator": "", "secrets": "",
            "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0", "steps-MIN_NUM_FORMS": "0",
            "steps-MAX_NUM_FORMS": "1000", "steps-0-order": "1", "steps-0-key": "done",
            "steps-0-name": "", "steps-0-kind": "output", "steps-0-config": config,
            "steps-0-tries": "1", "steps-0-retry_wait": "10", "steps-0-on_failure": "stop"}


# In a form, JSON arrives as text: NaN is written as such, the others as JSON escapes.
ADMIN_JSON = [('"a\\u0000b"', NUL), ('"\\ud800"', SURROGATE), ("NaN", NOT_FINITE),
              ("1e400", NOT_FINITE)]


@pytest.mark.parametrize(("bad", "message"), ADMIN_JSON)
def test_the_admin_refuses_step_settings_and_record_filters_jsonb_cannot_hold(
        admin_client, bad, message):
    config = '{"status": "success", "note": [%s]}' % bad
    r = admin_client.post("/admin/actionflow/actionflow/add/", form_data(config=config), **EN)
    assert r.status_code == 200
    formset = r.context["inline_admin_formsets"][0].formset
    assert formset.forms[0].errors["config"] == [message]

    record_filter = '[{"field": "data_set", "operator": "equals", "value": %s}]' % bad
    r = admin_client.post("/admin/actionflow/actionflow/add/",
                          form_data(record_filter=record_filter), **EN)
    assert r.status_code == 200
    assert r.context["adminform"].form.errors["record_filter"] == [message]
    assert not ActionFlow.objects.exists()


@pytest.mark.parametrize(("bad", "message"), ADMIN_JSON)
def test_run_now_refuses_an_input_jsonb_cannot_hold(admin_client, bad, message):
    flow = make_flow("runs", steps=[OUTPUT])
    r = admin_client.post(f"/admin/actionflow/actionflow/{flow.pk}/run/",
                          {"input": '{"name": %s}' % bad}, **EN)
    assert r.status_code == 200
    assert r.context["form"].errors["input"] == [message]
    assert not FlowRun.objects.exists()
