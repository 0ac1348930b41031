"""POST /hooks/tasks/<source>/<action>: each action end to end, form-encoded and JSON, down
to the todo items, requests, inbound events and the callback log."""
import datetime as dt
import json

import pytest

from integration.models import CallbackLog, InboundEvent, Request, TodoItem

from .test_callbacks_support import (
    FORM, JSON, T_CALLBACK, T_CREATE, T_FINISH, TOKEN, delete_params, item, post, signed,
    source, stored_counts, task_params, work_params,
)

pytestmark = pytest.mark.django_db
__all__ = ["source"]  # the fixture, imported to be used by name

BOTH = pytest.mark.parametrize("content_type", [FORM, JSON], ids=["form", "json"])


def ms(value):
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.timezone.utc)


@BOTH
def test_it_turns_create_into_a_todo_for_the_approver(client, source, content_type):
    r = post(client, "create", task_params(), content_type)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["success"] is True and body["duplicate"] is False
    assert [o["outcome"] for o in body["outcomes"]] == ["accepted"]

    todo = item("lisi")
    assert (todo.data_set, todo.business_status) == ("todo", "arrive")
    assert todo.task_id == "TASK-1"
    assert todo.node_name == "张红的1位访客申请"  # no activity name: the title
    assert todo.created_at == ms(T_CREATE)
    assert todo.last_event_at == ms(T_CALLBACK)
    request = Request.objects.get(request_id="FINST-1001")
    assert (request.title, request.creator, request.workflow_ref) == (
        "张红的1位访客申请", "zhanghong", "TPROC--9BC6687125N9")

    event = InboundEvent.objects.get()
    assert event.source == "callback:yida"
    assert event.event_id == body["outcomes"][0]["event_id"]
    assert event.event_id.startswith("cb:yida:create:")

    log = CallbackLog.objects.get()
    assert (log.source, log.action, log.request_id) == (source, "create", "FINST-1001")
    assert log.remote_addr == "127.0.0.1"
    assert log.event_ids == [event.event_id]
    assert log.params == signed(task_params())  # as received, sign included
    assert body["log_id"] == log.pk


@BOTH
def test_it_turns_cc_into_a_todo_with_the_cc_status(client, source, content_type):
    r = post(client, "cc", task_params(actionerId="wangwu"), content_type)
    assert r.status_code == 200, r.content
    todo = item("wangwu")
    assert (todo.data_set, todo.business_status) == ("todo", "cc")


@BOTH
def test_it_turns_finish_into_done_for_the_item_holding_the_task_id(client, source, content_type):
    post(client, "create", task_params())
    # The actual worker is a delegate: the approver's item, found by taskId, is the one done.
    r = post(client, "finish", work_params(worker="delegate-9"), content_type)
    assert r.status_code == 200, r.content
    todo = item("lisi")
    assert (todo.data_set, todo.business_status) == ("done", "approve")
    assert todo.last_event_at == ms(T_FINISH)
    assert not TodoItem.objects.filter(receiver="delegate-9").exists()
    assert CallbackLog.objects.filter(action="finish", request_id="FINST-1001").exists()


@BOTH
def test_it_turns_finish_of_an_unknown_task_into_done_for_the_actual_worker(client, source,
                                                                             content_type):
    post(client, "create", task_params(taskId=None))  # the seed's sample has no taskId either
    r = post(client, "finish", work_params(task_id="TASK-X", worker="lisi"), content_type)
    assert r.status_code == 200, r.content
    todo = item("lisi")
    assert (todo.data_set, todo.business_status, todo.task_id) == ("done", "approve", "TASK-X")
    assert TodoItem.objects.count() == 1


@BOTH
def test_it_turns_cancel_into_a_cancelled_delete(client, source, content_type):
    post(client, "create", task_params())
    r = post(client, "cancel", work_params(), content_type)
    assert r.status_code == 200, r.content
    todo = item("lisi")
    assert (todo.data_set, todo.business_status) == ("delete", "cancel")


@BOTH
def test_it_turns_delete_into_a_delete_for_every_receiver_held(client, source, content_type):
    post(client, "create", task_params(actionerId=["lisi", "wangwu"]))
    post(client, "cc", task_params(actionerId="zhaoliu"))
    post(client, "create", task_params(formInstanceId="OTHER", actionerId="lisi"))
    assert TodoItem.objects.filter(data_set="todo").count() == 4

    r = post(client, "delete", delete_params(), content_type)
    assert r.status_code == 200, r.content
    assert len(r.json()["outcomes"]) == 3
    held = TodoItem.objects.filter(request__request_id="FINST-1001")
    assert sorted(held.values_list("receiver", "data_set", "business_status")) == [
        ("lisi", "delete", "delete"), ("wangwu", "delete", "delete"),
        ("zhaoliu", "delete", "delete")]
    assert item("lisi", "OTHER").data_set == "todo"  # another request is untouched


def test_it_accepts_and_logs_a_delete_of_a_request_it_does_not_hold(client, source):
    r = post(client, "delete", delete_params(form_inst="NEVER-SEEN"))
    assert r.status_code == 200
    assert r.json()["outcomes"] == [] and r.json()["detail"]
    assert stored_counts() == (1, 0, 0, 0)
    assert CallbackLog.objects.get().request_id == "NEVER-SEEN"


def test_it_accepts_the_seed_sample_task_without_an_approver_and_makes_no_todo(client, source):
    # The seed's sample is the originator's "created by me" task: actionerId null.
    params = task_params(actionerId=None, actionerName=None, taskId=None)
    r = post(client, "create", params)
    assert r.status_code == 200, r.content
    assert r.json()["outcomes"] == []
    assert "actionerId" in r.json()["detail"]
    assert stored_counts() == (1, 0, 0, 0)


def test_it_makes_one_todo_per_approver_of_a_list(client, source):
    r = post(client, "create", task_params(actionerId=["lisi", "wangwu", "lisi"]), JSON)
    assert r.status_code == 200
    assert len(r.json()["outcomes"]) == 2
    assert set(TodoItem.objects.values_list("receiver", flat=True)) == {"lisi", "wangwu"}


def test_it_falls_back_to_action_executor_ids(client, source):
    r = post(client, "create", task_params(actionerId=None, actionExecutorId=["wangwu"]))
    assert r.status_code == 200
    assert item("wangwu").data_set == "todo"


def test_it_names_the_node_after_the_current_activity(client, source):
    activities = [{"activityId": "node_1", "activityName": "部门经理审批"},
                  {"activityId": "node_2", "activityName": "财务审批"}]
    post(client, "create", task_params(currentActivityInstances=activities))
    assert item("lisi").node_name == "部门经理审批 / 财务审批"
    post(client, "create", task_params(actionerId="wangwu", activityName="总经理审批"))
    assert item("wangwu").node_name == "总经理审批"
    assert Request.objects.get().current_node == "总经理审批"


def test_it_uses_the_process_instance_id_when_the_form_instance_id_is_missing(client, source):
    params = task_params(formInstanceId=None, processInstanceId="PROC-INST-7")
    assert post(client, "create", params).status_code == 200
    assert item("lisi", "PROC-INST-7").data_set == "todo"


def test_it_answers_a_repeated_callback_as_a_duplicate_that_changes_nothing(client, source):
    first = post(client, "create", task_params())
    before = (stored_counts(), list(TodoItem.objects.values()))
    again = post(client, "create", task_params())
    as_json = post(client, "create", task_params(), JSON)  # same parameters, other encoding
    for r in (again, as_json):
        assert r.status_code == 200
        body = r.json()
        assert body["success"] is True and body["duplicate"] is True
        assert body["log_id"] == first.json()["log_id"]
        assert [o["outcome"] for o in body["outcomes"]] == ["duplicate"]
        assert body["outcomes"][0]["event_id"] == first.json()["outcomes"][0]["event_id"]
    assert (stored_counts(), list(TodoItem.objects.values())) == before


def test_it_gives_the_same_callback_the_same_event_ids_and_a_new_one_new_ids(client, source):
    post(client, "create", task_params())
    post(client, "create", task_params(when=T_CALLBACK + 1))
    ids = list(InboundEvent.objects.order_by("id").values_list("event_id", flat=True))
    assert len(ids) == 2 and ids[0] != ids[1]
    assert all(len(i) <= 128 for i in ids)


def test_it_keeps_newer_state_when_a_create_arrives_after_the_finish(client, source):
    post(client, "finish", work_params())
    r = post(client, "create", task_params())
    assert r.json()["outcomes"][0]["flags"][-1] == "out_of_order"
    assert item("lisi").data_set == "done"


def test_it_accepts_a_json_body_with_numbers_signed_as_their_text(client, source):
    params = {**work_params(), "dateTime": T_FINISH}
    sign = signed({**params, "dateTime": str(T_FINISH)})["sign"]
    r = client.post("/hooks/tasks/yida/finish", json.dumps({**params, "sign": sign}),
                    content_type=JSON)
    assert r.status_code == 200, r.content
    assert CallbackLog.objects.get().params["dateTime"] == T_FINISH  # kept as received


def test_it_accepts_an_upper_case_sign_a_trailing_slash_and_a_charset(client, source):
    params = task_params()
    body = json.dumps({**params, "sign": signed(params)["sign"].upper()})
    r = client.post("/hooks/tasks/yida/create/", body,
                    content_type="application/json; charset=UTF-8")
    assert r.status_code == 200, r.content


def test_it_accepts_multipart_form_data(client, source):
    r = client.post("/hooks/tasks/yida/create", signed(task_params()))  # the test client's default
    assert r.status_code == 200, r.content
    assert item("lisi").data_set == "todo"


def test_it_checks_the_app_and_corp_of_a_restricted_source(client, source):
    source.app_type, source.corp_id = "APP_RY60OCRF33Z7534", "ding5d17e3add038d44535c2f4657eb6378f"
    source.save()
    assert post(client, "create", task_params()).status_code == 200  # originatorCorpId matches
    assert post(client, "finish", work_params()).status_code == 200
    assert post(client, "delete", delete_params()).status_code == 200


def test_it_answers_without_a_session_or_csrf_token(source):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert post(strict, "create", task_params()).status_code == 200


def test_it_signs_with_the_token_of_the_source_in_the_url(client, source):
    from integration.models import CallbackSource

    CallbackSource.objects.create(name="Other", slug="other", system_token="other-token",
                                  enabled=True)
    assert post(client, "create", task_params(), slug="other", token=TOKEN).status_code == 403
    r = post(client, "create", task_params(), slug="other", token="other-token")
    assert r.status_code == 200
    assert InboundEvent.objects.get().source == "callback:other"
