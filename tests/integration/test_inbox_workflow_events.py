"""POST /api/v1/workflow-events/: a request reaching or leaving a node."""
import json

import pytest

from integration.models import InboundEvent, Request
from integration.signals import workflow_events_accepted

from .helpers import workflow_event

URL = "/api/v1/workflow-events/"
pytestmark = pytest.mark.django_db


def post(api, body):
    return api.post(URL, json.dumps(body), content_type="application/json")


def test_it_stores_form_data_sign_opinions_and_the_node(api):
    r = post(api, workflow_event(event_id="w1"))
    assert r.status_code == 201
    request = Request.objects.get(request_id="1001")
    assert request.form_data == {"days": 3, "destination": "上海"}
    assert request.sign_opinions[0]["opinion"] == "同意"
    assert request.sign_opinions[0]["signed_at"] == "2026-11-20T10:00:00+08:00"
    assert request.current_node == "部门经理审批"
    event = InboundEvent.objects.get(event_id="w1")
    assert (event.kind, event.moment) == ("workflow", "after")


def test_it_takes_the_newest_form_data_and_keeps_older_events_in_the_trail(api):
    post(api, workflow_event(event_id="new", form_data={"v": 2}, node_name="总经理审批",
                             occurred_at="2026-11-20T11:00:00+08:00"))
    r = post(api, workflow_event(event_id="old", form_data={"v": 1}, moment="before",
                                 occurred_at="2026-11-20T10:00:00+08:00"))
    assert "out_of_order" in r.json()["results"][0]["flags"]
    request = Request.objects.get()
    assert request.form_data == {"v": 2}
    assert request.current_node == "总经理审批"
    assert InboundEvent.objects.filter(event_id="old", applied=False).exists()


def test_it_keeps_form_data_when_an_event_leaves_it_out(api):
    post(api, workflow_event(form_data={"v": 1}))
    event = workflow_event(node_name="归档", status="finished", occurred_at="2026-11-20T12:00:00+08:00")
    del event["form_data"], event["sign_opinions"]
    post(api, event)
    request = Request.objects.get()
    assert request.form_data == {"v": 1}
    assert len(request.sign_opinions) == 1
    assert request.status == "finished"


def test_it_reports_a_repeat_as_duplicate(api):
    post(api, workflow_event(event_id="w1"))
    r = post(api, workflow_event(event_id="w1", form_data={"changed": True}))
    assert r.json()["results"][0]["outcome"] == "duplicate"
    assert Request.objects.get().form_data == {"days": 3, "destination": "上海"}


@pytest.mark.parametrize("field, value", [
    ("moment", "during"),
    ("moment", None),
    ("node_name", ""),
    ("workflow_id", ""),
    ("status", "paused"),
    ("form_data", ["not", "an", "object"]),
    ("form_data", {"k": "a\x00b"}),
    ("form_data", {"k\x00": 1}),
    ("form_data", {"k": "\udc00"}),
    ("sign_opinions", {"not": "a list"}),
    ("sign_opinions", [{"node_name": "n", "operator": "u", "signed_at": "bad"}]),
    ("sign_opinions", [{"node_name": "n", "signed_at": "2026-11-20T10:00:00+08:00"}]),
    ("sign_opinions", ["text"]),
])
def test_it_refuses_a_bad_field_with_400_naming_it(api, field, value):
    r = post(api, workflow_event(**{field: value}))
    assert r.status_code == 400, r.content
    assert field in r.json()
    assert not Request.objects.exists()


@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_a_number_too_large_for_the_database_is_refused_and_the_rest_of_the_call_kept(api, number):
    # Python reads 1e400 as inf, which PostgreSQL's jsonb refuses: stored, it would have
    # failed the whole call.
    body = json.dumps([workflow_event(event_id="ok"),
                       workflow_event(event_id="big", request_id="1002", form_data={"x": 0})])
    r = api.post(URL, body.replace('{"x": 0}', '{"x": %s}' % number),
                 content_type="application/json")
    assert r.status_code == 200, r.content
    results = r.json()["results"]
    assert [x["outcome"] for x in results] == ["accepted", "invalid"]
    assert "form_data" in results[1]["errors"]
    assert list(Request.objects.values_list("request_id", flat=True)) == ["1001"]


def test_it_refuses_absurdly_nested_form_data(api):
    nested = {}
    for _ in range(40):
        nested = {"k": nested}
    r = post(api, workflow_event(form_data=nested))
    assert r.status_code == 400 and "form_data" in r.json()


def test_it_announces_accepted_events_with_their_requests(api):
    seen = []

    def receiver(sender, events, requests, **kwargs):
        seen.append(([e.moment for e in events], sorted(requests)))

    workflow_events_accepted.connect(receiver)
    try:
        post(api, [workflow_event(moment="before"), workflow_event(request_id="2002")])
    finally:
        workflow_events_accepted.disconnect(receiver)
    assert seen == [(["before", "after"], ["1001", "2002"])]


def test_it_shows_a_request_with_its_opinions_over_the_api(api):
    post(api, workflow_event())
    r = api.get("/api/v1/requests/1001/")
    assert r.status_code == 200
    assert r.json()["sign_opinions"][0]["operator"] == "lisi"
