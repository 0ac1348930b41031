"""POST /api/v1/todo-events/: validation, idempotency, state, flags, audit trail."""
import json

import pytest

from integration.models import InboundEvent, Person, Request, TodoItem, Workflow
from integration.signals import todo_events_accepted

from .helpers import todo_event

URL = "/api/v1/todo-events/"
pytestmark = pytest.mark.django_db


def post(api, body):
    # Raw JSON as a client sends it: ASCII-escaped, so even a lone surrogate travels.
    return api.post(URL, json.dumps(body), content_type="application/json")


def test_it_accepts_one_event_and_builds_request_and_todo_state(api):
    r = post(api, todo_event(event_id="e1"))
    assert r.status_code == 201
    assert r.json()["results"][0]["outcome"] == "accepted"
    request = Request.objects.get(request_id="1001")
    assert request.title == "出差申请-张三"
    assert request.creator == "zhangsan"
    assert request.current_node == "部门经理审批"
    item = TodoItem.objects.get()
    assert (item.receiver, item.data_set, item.business_status) == ("lisi", "todo", "arrive")
    assert item.last_event_id == "e1"
    assert InboundEvent.objects.filter(event_id="e1", kind="todo", source="api").exists()


def test_it_reports_a_repeated_event_id_as_duplicate_and_changes_nothing(api):
    post(api, todo_event(event_id="e1"))
    before = list(TodoItem.objects.values())
    r = post(api, todo_event(event_id="e1", data_set="done", business_status="approve",
                             occurred_at="2026-11-20T12:00:00+08:00"))
    assert r.status_code == 200
    assert r.json()["results"][0]["outcome"] == "duplicate"
    assert list(TodoItem.objects.values()) == before
    assert InboundEvent.objects.count() == 1


def test_it_treats_a_repeat_within_one_bulk_call_as_duplicate(api):
    r = post(api, [todo_event(event_id="same"), todo_event(event_id="same", receiver="wangwu")])
    assert [x["outcome"] for x in r.json()["results"]] == ["accepted", "duplicate"]
    assert TodoItem.objects.count() == 1


def test_it_stores_the_valid_events_of_a_bulk_call_and_names_the_bad_fields(api):
    r = post(api, [todo_event(event_id="ok1"), todo_event(event_id="bad", receiver=""),
                   todo_event(event_id="ok2", receiver="wangwu")])
    assert r.status_code == 200
    body = r.json()
    assert (body["accepted"], body["invalid"]) == (2, 1)
    assert body["results"][1]["outcome"] == "invalid"
    assert body["results"][1]["event_id"] == "bad"
    assert "receiver" in body["results"][1]["errors"]
    assert set(InboundEvent.objects.values_list("event_id", flat=True)) == {"ok1", "ok2"}


def test_it_answers_400_when_every_event_of_a_bulk_call_is_invalid(api):
    r = post(api, [{"event_id": "x"}, "not an object"])
    assert r.status_code == 400
    assert r.json()["invalid"] == 2
    assert "non_field_errors" in r.json()["results"][1]["errors"]
    assert not InboundEvent.objects.exists()


def test_it_accepts_1000_events_in_one_call_and_refuses_1001(api):
    events = [todo_event(event_id=f"b{i}", receiver=f"user{i}") for i in range(1000)]
    r = post(api, events)
    assert r.status_code == 200 and r.json()["accepted"] == 1000
    assert TodoItem.objects.count() == 1000
    r = post(api, events + [todo_event()])
    assert r.status_code == 400
    assert "1000" in r.json()["non_field_errors"][0]


@pytest.mark.parametrize("body", [[], "text", 42, None])
def test_it_refuses_bodies_that_are_not_events(api, body):
    r = api.post(URL, body, format="json")
    assert r.status_code == 400
    assert not InboundEvent.objects.exists()


def test_it_refuses_form_encoded_bodies_with_415(api):
    r = api.post(URL, {"event_id": "x"})
    assert r.status_code == 415


@pytest.mark.parametrize("field, value", [
    ("event_id", None),
    ("event_id", ""),
    ("event_id", "x" * 129),
    ("data_set", "pending"),
    ("receiver", True),
    ("receiver", ["lisi"]),
    ("receiver", {"id": "lisi"}),
    ("request_id", "1" * 65),
    ("request_title", "长" * 501),
    ("occurred_at", "yesterday"),
    ("occurred_at", "2026-13-01T00:00:00"),
    ("occurred_at", "1999-12-31T23:59:59+00:00"),
    ("occurred_at", 10 ** 20),
    ("occurred_at", True),
    ("created_at", "2126-01-01T00:00:00+00:00"),
    ("viewed", "maybe"),
    ("node_name", "a\x00b"),
    ("creator", "\ud800"),
])
def test_it_refuses_a_bad_field_with_400_naming_it(api, field, value):
    r = post(api, todo_event(**{field: value}))
    assert r.status_code == 400, r.content
    assert field in r.json()
    assert not InboundEvent.objects.exists()


def test_it_refuses_a_missing_required_field_naming_it(api):
    event = todo_event()
    del event["occurred_at"]
    r = post(api, event)
    assert r.status_code == 400
    assert "occurred_at" in r.json()


def test_it_refuses_a_business_status_outside_the_data_set(api):
    r = post(api, todo_event(data_set="todo", business_status="approve"))
    assert r.status_code == 400
    assert "business_status" in r.json()
    assert "todo" in r.json()["business_status"][0]


def test_it_refuses_an_unknown_business_status(api):
    r = post(api, todo_event(business_status="teleport"))
    assert r.status_code == 400 and "business_status" in r.json()


def test_it_defaults_the_business_status_from_the_data_set(api):
    event = todo_event(data_set="done")
    del event["business_status"]
    assert post(api, event).status_code == 201
    assert TodoItem.objects.get().business_status == "submit"


def test_it_requires_title_workflow_creator_and_node_for_the_todo_data_set(api):
    r = post(api, todo_event(request_title="", workflow_id="", creator="", node_name=""))
    assert r.status_code == 400
    assert {"request_title", "workflow_id", "creator", "node_name"} <= set(r.json())
    # a done event may leave them out: the request is already known
    r = post(api, {"event_id": "d1", "data_set": "done", "request_id": "1001", "receiver": "lisi",
                   "occurred_at": "2026-11-20T10:00:00+08:00"})
    assert r.status_code == 201


def test_it_accepts_epoch_milliseconds_and_naive_local_times(api):
    r = post(api, todo_event(occurred_at=1763600000000, created_at="1763600000000"))
    assert r.status_code == 201
    r = post(api, todo_event(occurred_at="2026-11-20 09:30:00", receiver="wangwu"))
    assert r.status_code == 201
    item = TodoItem.objects.get(receiver="wangwu")
    assert item.last_event_at.isoformat() == "2026-11-20T01:30:00+00:00"  # Asia/Shanghai


def test_it_moves_an_item_through_todo_done_and_over(api):
    post(api, todo_event(occurred_at="2026-11-20T09:00:00+08:00"))
    post(api, todo_event(data_set="done", business_status="approve",
                         occurred_at="2026-11-20T09:10:00+08:00"))
    item = TodoItem.objects.get()
    assert (item.data_set, item.business_status) == ("done", "approve")
    assert Request.objects.get().status == "running"
    post(api, todo_event(data_set="over", business_status="archive", node_name="归档",
                         occurred_at="2026-11-20T09:20:00+08:00"))
    item.refresh_from_db()
    assert item.data_set == "over"
    request = Request.objects.get()
    assert request.status == "finished"
    assert request.current_node == "归档"


def test_it_keeps_a_late_event_without_overwriting_newer_state(api):
    post(api, todo_event(event_id="done", data_set="done", business_status="approve",
                         occurred_at="2026-11-20T10:00:00+08:00"))
    r = post(api, todo_event(event_id="late-todo", occurred_at="2026-11-20T09:00:00+08:00"))
    assert r.json()["results"][0]["flags"] == ["unknown_receiver", "unknown_creator",
                                               "unknown_workflow", "out_of_order"]
    assert TodoItem.objects.get().data_set == "done"
    late = InboundEvent.objects.get(event_id="late-todo")
    assert late.applied is False and late.flagged is True


def test_it_applies_events_of_one_call_in_time_order_whatever_their_position(api):
    post(api, [todo_event(data_set="done", business_status="approve",
                          occurred_at="2026-11-20T10:00:00+08:00"),
               todo_event(occurred_at="2026-11-20T09:00:00+08:00")])
    assert TodoItem.objects.get().data_set == "done"


def test_it_keeps_one_item_per_part_time_identity(api):
    post(api, [todo_event(identity=""), todo_event(identity="pt-7")])
    assert sorted(TodoItem.objects.values_list("identity", flat=True)) == ["", "pt-7"]


def test_it_links_known_persons_and_workflows_and_flags_unknown_ones(api):
    lisi = Person.objects.create(external_id="p2", login_id="lisi", name="李四")
    zhang = Person.objects.create(external_id="p1", login_id="zhangsan", name="张三")
    wf = Workflow.objects.create(workflow_id="wf-travel", name="出差")
    r = post(api, [todo_event(event_id="known"), todo_event(event_id="stranger", receiver="ghost")])
    results = r.json()["results"]
    assert "flags" not in results[0]
    assert results[1]["flags"] == ["unknown_receiver"]
    assert TodoItem.objects.get(receiver="lisi").receiver_person == lisi
    assert TodoItem.objects.get(receiver="ghost").receiver_person is None
    request = Request.objects.get()
    assert (request.workflow, request.creator_person) == (wf, zhang)
    assert InboundEvent.objects.get(event_id="stranger").flagged


def test_it_announces_accepted_events_inside_the_transaction(api):
    seen = []

    def receiver(sender, events, todo_items, **kwargs):
        from django.db import connection

        seen.append((connection.in_atomic_block, [e.event_id for e in events],
                     {k: v.pk for k, v in todo_items.items()}))

    todo_events_accepted.connect(receiver)
    try:
        post(api, [todo_event(event_id="s1"), todo_event(event_id="s1")])
    finally:
        todo_events_accepted.disconnect(receiver)
    assert len(seen) == 1
    in_atomic, ids, items = seen[0]
    assert in_atomic and ids == ["s1"] and items["s1"] == TodoItem.objects.get().pk


def test_it_lists_the_audit_trail_with_filters(api):
    post(api, [todo_event(event_id="a", request_id="1"), todo_event(event_id="b", request_id="2")])
    r = api.get(URL, {"request_id": "2"})
    assert r.status_code == 200
    assert [e["event_id"] for e in r.json()["results"]] == ["b"]
    r = api.get(URL + "?flagged=true")
    assert len(r.json()["results"]) == 2


def test_it_lists_todo_items_filtered_by_receiver_and_request(api):
    post(api, [todo_event(receiver="a", request_id="1"), todo_event(receiver="b", request_id="2")])
    r = api.get("/api/v1/todo-items/", {"receiver": "b"})
    assert [i["request_id"] for i in r.json()["results"]] == ["2"]
    r = api.get("/api/v1/todo-items/", {"request_id": "1"})
    assert [i["receiver"] for i in r.json()["results"]] == ["a"]


def test_it_marks_a_request_deleted_once_every_item_is_deleted(api):
    post(api, [todo_event(receiver="a"), todo_event(receiver="b")])
    post(api, todo_event(receiver="a", data_set="delete", business_status="delete",
                         occurred_at="2026-11-20T11:00:00+08:00"))
    assert Request.objects.get().status == "running"
    post(api, todo_event(receiver="b", data_set="delete", business_status="delete",
                         occurred_at="2026-11-20T11:00:00+08:00"))
    assert Request.objects.get().status == "deleted"


def test_it_accepts_paths_with_or_without_the_final_slash(api):
    r = api.post("/api/v1/todo-events", json.dumps(todo_event()), content_type="application/json")
    assert r.status_code == 201
    assert api.get("/api/v1/todo-items").status_code == 200
    assert api.get("/api/v1/health").status_code == 200
