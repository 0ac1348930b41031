"""Seed 004 end to end: action flows with IM on a risk workflow.

A risk request is submitted (workflow and todo events through the REST inbox) and its handler
does not act. Flow 1 (date field: the todo's created_at + 1 day; only todos still pending
whose form says 风险状态 = 待处理) sends the handler an IM message card; flow 2 (+ 2 days)
creates a matter group for the request and sends a card to it. The real date-field trigger
fires them (with a moved clock), the engine runs them, a fake WeCom API on 127.0.0.1 receives
the calls. One matter, one group: another flow, or another handler's run, that creates the
same matter group fails with the clear error the seed warns about.
"""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from actionflow import engine, triggers
from actionflow.models import FlowRun, IMGroup, IMMessage
from integration.models import TodoItem
from tests.integration.test_notify_support import im_account, person, wecom

from .helpers import execute_queued, make_flow, step_log

pytestmark = pytest.mark.django_db
__all__ = ["wecom"]  # a fixture, imported to be used by name

SHANGHAI = ZoneInfo("Asia/Shanghai")
SUBMITTED = datetime(2025, 7, 29, 9, 30, tzinfo=SHANGHAI)
WORKFLOW = "risk-wf"
VIEW = "https://oa.example.test/risk/view?requestid="
PENDING = [{"field": "data_set", "operator": "equals", "value": "todo"},
           {"field": "form_data.风险状态", "operator": "equals", "value": "待处理"}]


@pytest.fixture
def im(wecom):
    for login in ("zhangsan", "lisi", "wangwu", "zhaoliu"):
        person(login)
    im_account(wecom)
    return wecom


def submit(api, request_id, title, handlers=("lisi",), status="待处理", at=SUBMITTED):
    """The OA says a risk request was submitted (its form) and who must handle it next."""
    answer = api.post("/api/v1/workflow-events/", {
        "event_id": f"wf-{request_id}", "moment": "after", "request_id": request_id,
        "request_title": title, "workflow_id": WORKFLOW, "node_name": "提交风险",
        "creator": "zhangsan", "operator": "zhangsan", "status": "running",
        "form_data": {"风险状态": status, "发现日期": at.strftime("%Y-%m-%d"), "模块": "运维"},
        "created_at": at.isoformat(), "occurred_at": at.isoformat()}, format="json")
    assert answer.status_code == 201, answer.json()
    for handler in handlers:
        todo(api, request_id, title, handler, "todo", at)


def todo(api, request_id, title, receiver, data_set, at, created=SUBMITTED):
    answer = api.post("/api/v1/todo-events/", {
        "event_id": f"todo-{request_id}-{receiver}-{data_set}", "data_set": data_set,
        "request_id": request_id, "request_title": title, "workflow_id": WORKFLOW,
        "node_name": "风险处理", "creator": "zhangsan", "receiver": receiver,
        "created_at": created.isoformat(), "occurred_at": at.isoformat()}, format="json")
    assert answer.status_code == 201, answer.json()


def overdue_flow(name, days, steps, **fields):
    values = {"record_kind": "todo_item", "date_field": "created_at", "delay_amount": days,
              "delay_unit": "days", "record_filter": PENDING, "operator": "zhangsan"}
    values.update(fields)
    return make_flow(name, "date_field", steps, **values)


def remind_flow():
    """动作流一：超时1天发送IM消息提醒."""
    return overdue_flow("超时1天提醒", 1, [{"key": "remind", "kind": "im_message", "config": {
        "recipients": "{{ record.receiver }}",
        "title": "风险待处理：{{ record.title }}",
        "body": "发现日期 {{ record.form_data.发现日期 }}，提交于 "
                "{{ format_date(record.created_at, \"yyyy-MM-dd HH:mm\") }}，已超时 1 天未处理。",
        "url": VIEW + "{{ urlencode(record.request_id) }}"}}])


def group_steps():
    return [
        {"key": "mkgroup", "kind": "im_group_create", "config": {
            "kind": "matter", "name": "风险讨论：{{ record.title }}",
            "owner": "{{ record.creator }}", "members": "{{ record.receiver }}, wangwu",
            "admins": "wangwu", "matter_type": "request",
            "matter_id": "{{ record.request_id }}",
            "matter_url": VIEW + "{{ urlencode(record.request_id) }}"}},
        {"key": "card", "kind": "im_group_message", "config": {
            "group": "{{ steps.mkgroup.group }}", "title": "风险：{{ record.title }}",
            "body": "{{ record.receiver }} 已超时 2 天未处理，请大家讨论。",
            "url": VIEW + "{{ urlencode(record.request_id) }}", "button_text": "查看"}},
    ]


def group_flow(name="超时2天建群", **fields):
    """动作流二：超时2天创建IM事项群聊, then send a card to it."""
    return overdue_flow(name, 2, group_steps(), **fields)


def fire(at):
    """One beat of the date-field trigger at `at`; the runs it started, executed."""
    started = triggers.fire_date_triggers(now=at)
    runs = execute_queued()
    assert len(runs) == started
    return runs


def test_one_day_overdue_sends_the_handler_an_im_message_once(api, im):
    flow = remind_flow()
    submit(api, "R-1", "服务器宕机")
    submit(api, "R-2", "证书过期", handlers=("wangwu",), status="已处理")
    submit(api, "R-3", "磁盘告警", handlers=("zhaoliu",))
    # zhaoliu handles R-3 within the day: the todo is done, nothing is due for it.
    todo(api, "R-3", "磁盘告警", "zhaoliu", "done", SUBMITTED + timedelta(hours=3))

    assert fire(SUBMITTED + timedelta(hours=23, minutes=59)) == []
    assert im.sent == []

    [ran] = fire(SUBMITTED + timedelta(days=1, minutes=1))
    assert ran.status == FlowRun.Status.SUCCESS, ran.message
    assert (ran.flow, ran.trigger) == (flow, "date_field")
    assert ran.input["record"]["receiver"] == "lisi"
    assert im.sent == [{"touser": "lisi", "msgtype": "textcard", "agentid": 1000002, "textcard": {
        "title": "风险待处理：服务器宕机",
        "description": "发现日期 2025-07-29，提交于 2025-07-29 09:30，已超时 1 天未处理。",
        "url": VIEW + "R-1"}}]
    message = IMMessage.objects.get()
    assert (message.status, message.recipients, message.run) == ("sent", ["lisi"], ran)
    assert step_log(ran, "remind").output["sent_to"] == ["lisi"]

    # Later beats (after a restart too: the mark is in the database) never fire it again.
    assert fire(SUBMITTED + timedelta(days=1, minutes=2)) == []
    assert fire(SUBMITTED + timedelta(days=5)) == []
    assert len(im.sent) == 1 and IMMessage.objects.count() == 1


def test_two_days_overdue_creates_the_matter_group_once_and_sends_the_card(api, im):
    remind_flow()
    group_flow()
    submit(api, "R-1", "服务器宕机")

    [reminded] = fire(SUBMITTED + timedelta(days=1, hours=1))
    assert reminded.flow.name == "超时1天提醒" and reminded.status == "success"
    assert im.chats == {}

    [grouped] = fire(SUBMITTED + timedelta(days=2, hours=1))
    assert grouped.flow.name == "超时2天建群"
    assert grouped.status == FlowRun.Status.SUCCESS, grouped.message
    group = IMGroup.objects.get()
    assert (group.kind, group.status, group.matter_type, group.matter_id, group.matter_url,
            group.owner, group.members, group.admins, group.created_by_run) == (
        "matter", "active", "request", "R-1", VIEW + "R-1", "zhangsan",
        ["zhangsan", "lisi", "wangwu"], ["wangwu"], grouped)
    assert im.chats == {group.provider_group_id: {
        "name": "风险讨论：服务器宕机", "owner": "zhangsan",
        "userlist": ["zhangsan", "lisi", "wangwu"]}}
    assert im.group_sent == [{
        "chatid": group.provider_group_id, "msgtype": "textcard",
        "textcard": {"title": "风险：服务器宕机", "description": "lisi 已超时 2 天未处理，请大家讨论。",
                     "url": VIEW + "R-1", "btntxt": "查看"}}]
    card = IMMessage.objects.get(group=group)
    assert (card.status, card.run) == ("sent", grouped)
    assert step_log(grouped, "card").output["group_id"] == group.provider_group_id
    assert len(im.sent) == 1  # the day-1 reminder only

    # A second pass creates nothing: the record fired the flow once.
    assert fire(SUBMITTED + timedelta(days=3)) == []
    assert len(im.chats) == 1 and len(im.group_sent) == 1

    # Another flow creating the same matter's group fails with the seed's clear error.
    group_flow("同一事项再建群", record_filter=[PENDING[0]])
    [again] = fire(SUBMITTED + timedelta(days=3))
    assert again.status == FlowRun.Status.FAILED and again.failed_step == "mkgroup"
    assert again.message == (
        f"Step “mkgroup” failed: The matter request R-1 already has the group "
        f"“风险讨论：服务器宕机” (#{group.pk}, active); dissolve it first.")
    assert "card" not in {s.key for s in again.steps.all()}
    assert len(im.chats) == 1 and len(im.group_sent) == 1
    assert IMGroup.objects.count() == 1


def test_a_matter_with_two_overdue_handlers_gets_one_group(api, im):
    group_flow()
    submit(api, "R-1", "服务器宕机", handlers=("lisi", "zhaoliu"))
    runs = fire(SUBMITTED + timedelta(days=2, minutes=1))
    assert [r.status for r in runs] == ["success", "failed"]
    assert "already has the group" in runs[1].message
    assert "dissolve it first" in runs[1].message
    assert len(im.chats) == 1 and len(im.group_sent) == 1


def test_a_risk_handled_before_two_days_gets_no_group(api, im):
    group_flow()
    submit(api, "R-1", "服务器宕机")
    todo(api, "R-1", "服务器宕机", "lisi", "done", SUBMITTED + timedelta(days=1, hours=20))
    assert TodoItem.objects.get().data_set == "done"
    assert fire(SUBMITTED + timedelta(days=2, minutes=1)) == []
    assert im.chats == {} and not IMGroup.objects.exists()


def test_after_the_group_is_dissolved_the_next_overdue_round_may_create_one(api, im):
    flow = group_flow()
    submit(api, "R-1", "服务器宕机")
    [first] = fire(SUBMITTED + timedelta(days=2, minutes=1))
    assert first.status == "success"
    dissolve = make_flow("解散群", steps=[{"key": "dissolve", "kind": "im_group_update",
                                           "config": {"matter_id": "R-1", "dissolve": True}}],
                         operator="wangwu")  # an admin of the group
    assert engine.run_now(dissolve, "manual", {}).status == "success"
    # The risk is reassigned: a new todo for zhaoliu, overdue two days later.
    reassigned = SUBMITTED + timedelta(days=3)
    todo(api, "R-1", "服务器宕机", "zhaoliu", "todo", reassigned, created=reassigned)
    assert fire(reassigned + timedelta(days=1)) == []
    [second] = fire(SUBMITTED + timedelta(days=5, minutes=1))
    assert second.status == "success", second.message
    assert second.flow == flow
    old, new = IMGroup.objects.order_by("id")
    assert (old.status, new.status, new.members) == (
        "dissolved", "active", ["zhangsan", "zhaoliu", "wangwu"])
    assert len(im.chats) == 2 and im.group_sent[-1]["chatid"] == new.provider_group_id
