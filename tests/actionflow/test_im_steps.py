"""The IM step kinds of action flows (seed 004): send an IM message, create an IM group, send
to a group, change a group's settings; run by the engine against a fake WeCom API on
127.0.0.1, with the console's IMGroup / IMMessage rows, the outputs and the failures; and
the admin of groups and messages."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from actionflow.definition import check_steps
from actionflow.models import FlowRun, IMGroup, IMMessage, StepRun
from actionflow.steps.im import chat_id
from integration.im import MESSAGE, Provider
from integration.im.base import REGISTRY as PROVIDERS
from tests.integration.test_notify_support import FakeWeCom, im_account, person, wecom
from tests.receivers import Answer

from .helpers import FlowProblem, make_flow, run_flow, step_log

pytestmark = pytest.mark.django_db
__all__ = ["wecom"]  # a fixture, imported to be used by name

LINK = "https://oa.example.test/risk/view?requestid=42"
RECORD = {"request_id": "42", "title": "服务器宕机", "creator": "zhangsan",
          "receiver": "lisi", "link": LINK}


@pytest.fixture
def account(wecom):
    for login in ("zhangsan", "lisi", "wangwu", "zhaoliu"):
        person(login)
    return im_account(wecom)


def flow_of(*steps, name="im", operator="zhangsan", **fields):
    return make_flow(name, steps=[
        {"key": f"s{n}", **step} if "key" not in step else step
        for n, step in enumerate(steps, start=1)], operator=operator, **fields)


def message_step(**config):
    return {"key": "notify", "kind": "im_message", "config": {
        "recipients": "{{ record.receiver }}", "title": "风险待处理：{{ record.title }}",
        "body": "请尽快处理", "url": "{{ record.link }}", **config}}


def create_step(key="mkgroup", **config):
    return {"key": key, "kind": "im_group_create", "config": {
        "kind": "matter", "name": "风险讨论：{{ record.title }}", "owner": "{{ record.creator }}",
        "members": "{{ record.receiver }}, wangwu", "matter_id": "{{ record.request_id }}",
        "matter_url": "{{ record.link }}", **config}}


def group_message_step(key="say", **config):
    return {"key": key, "kind": "im_group_message", "config": {
        "group": "{{ steps.mkgroup.group }}", "title": "风险：{{ record.title }}",
        "body": "已超时 2 天", "url": "{{ record.link }}", **config}}


def update_step(key="change", **config):
    return {"key": key, "kind": "im_group_update", "config": config}


def run(flow, **record):
    return run_flow(flow, {"record": {**RECORD, **record}})


def appchat_calls(fake, name):
    return [p for p in fake.paths() if p == f"/cgi-bin/appchat/{name}"]


def made_group(account, **fields):
    """An active group as a create step leaves it (for the tests of the other kinds)."""
    values = {"account": account, "kind": IMGroup.Kind.NORMAL, "name": "风险讨论",
              "owner": "zhangsan", "members": ["zhangsan", "lisi"], "status": "active",
              "provider_group_id": "chat42"}
    values.update(fields)
    return IMGroup.objects.create(**values)


def with_chat(fake, group):
    fake.chats[group.provider_group_id] = {"name": group.name, "owner": group.owner,
                                           "userlist": list(group.members)}
    return group


# -- settings checked when the flow is saved -------------------------------------------------
@pytest.mark.parametrize("kind, config, says", [
    ("im_message", {"title": "t"}, "recipients: This field is required."),
    ("im_message", {"recipients": [1], "title": "t"}, "recipients: Write login ids"),
    ("im_message", {"recipients": " ", "title": "t"}, "recipients: Name at least one"),
    ("im_message", {"recipients": "lisi"}, "title: A message card needs a title."),
    ("im_message", {"recipients": "lisi", "type": "text"}, "body: A text message needs a body"),
    ("im_message", {"recipients": "lisi", "title": "t", "url": "oa/42"},
     "url: A link starts with http:// or https://."),
    ("im_message", {"recipients": "lisi", "title": "t", "account": "nope"},
     "account: There is no IM account named “nope”."),
    ("im_group_create", {"kind": "matter", "name": "n"}, "matter_id: A matter group needs"),
    ("im_group_create", {"kind": "normal", "name": "n", "matter_id": "42"},
     "kind: Only a matter group is tied to a matter"),
    ("im_group_create", {"kind": "party", "name": "n"}, "kind: \"party\" is not a valid choice."),
    ("im_group_message", {"title": "t"}, "group: Name the group either by its id"),
    ("im_group_message", {"group": 3, "matter_id": "42", "title": "t"},
     "group: Name the group either by its id"),
    ("im_group_message", {"group": "three", "title": "t"}, "group: The group is its id"),
    ("im_group_update", {"group": 3}, "Say what to change"),
    ("im_group_update", {"group": 3, "dissolve": True, "name": "n"},
     "dissolve: Dissolving a group changes nothing else; put the other changes (name)"),
    ("im_group_update", {"group": 3, "topic_state": "paused"}, "topic_state: \"paused\" is not"),
])
def test_settings_a_step_cannot_work_with_are_refused_when_saved(kind, config, says):
    [messages] = check_steps([{"key": "s", "kind": kind, "config": config}]).values()
    assert any(says in message for message in messages), messages


def test_every_im_kind_has_a_label_a_description_and_a_valid_example():
    from actionflow.steps import REGISTRY

    kinds = ["im_message", "im_group_create", "im_group_message", "im_group_update"]
    steps = [{"key": "mkgroup" if kind == "im_group_create" else kind, "kind": kind,
              "config": REGISTRY[kind].example} for kind in kinds]
    steps.insert(0, steps.pop(1))  # the others read {{ steps.mkgroup.group }}
    assert check_steps(steps) == {}
    assert all(str(REGISTRY[k].label) and str(REGISTRY[k].description) for k in kinds)


# -- im_message ----------------------------------------------------------------------------
def test_it_sends_a_card_with_fixed_text_and_values_to_the_handler(wecom, account):
    ran = run(flow_of(message_step()))
    assert ran.status == FlowRun.Status.SUCCESS, ran.message
    assert wecom.sent == [{"touser": "lisi", "msgtype": "textcard", "agentid": 1000002,
                           "textcard": {"title": "风险待处理：服务器宕机", "description": "请尽快处理",
                                        "url": LINK}}]
    row = IMMessage.objects.get()
    assert (row.status, row.kind, row.recipients, row.title, row.url, row.run_id,
            row.provider_message_id, row.group) == (
        "sent", "card", ["lisi"], "风险待处理：服务器宕机", LINK, ran.pk, "m1", None)
    assert step_log(ran, "notify").output == {
        "message": row.pk, "message_id": "m1", "sent_to": ["lisi"], "not_reached": [],
        "reasons": {}}
    assert step_log(ran, "notify").input["title"] == "风险待处理：服务器宕机"


def test_recipients_are_a_list_or_text_separated_by_commas_without_repeats(wecom, account):
    flow = flow_of(message_step(recipients=["{{ record.receiver }}", "wangwu，zhaoliu; lisi"],
                                button_text="查看"))
    assert run(flow).status == "success"
    assert wecom.sent[0]["touser"] == "lisi|wangwu|zhaoliu"
    assert wecom.sent[0]["textcard"]["btntxt"] == "查看"
    flow = flow_of(message_step(recipients="{{ record.people }}"), name="list")
    assert run(flow, people=["zhaoliu", "lisi"]).status == "success"
    assert wecom.sent[1]["touser"] == "zhaoliu|lisi"


def test_persons_who_cannot_be_reached_are_reported_not_fatal(wecom, account):
    person("gone", active=False)
    ran = run(flow_of(message_step(recipients="lisi, ghost, gone, wangwu")))
    assert ran.status == "success"
    assert wecom.sent[0]["touser"] == "lisi|wangwu"
    output = step_log(ran, "notify").output
    assert output["sent_to"] == ["lisi", "wangwu"]
    assert output["not_reached"] == ["ghost", "gone"]
    assert output["reasons"] == {"ghost": "not in the directory",
                                 "gone": "inactive in the directory"}
    assert IMMessage.objects.get().invalid_users == ["ghost", "gone"]


def test_a_person_without_the_account_s_user_id_is_reported(wecom):
    person("lisi", mobile="")
    person("wangwu")
    im_account(wecom, user_id_field="mobile")
    ran = run(flow_of(message_step(recipients="lisi,wangwu")))
    assert ran.status == "success"
    assert wecom.sent[0]["touser"].startswith("1380000")
    assert step_log(ran, "notify").output["reasons"] == {
        "lisi": "has no Mobile for the IM platform"}


def test_nobody_reachable_fails_without_calling_the_platform(wecom, account):
    ran = run(flow_of(message_step(recipients="ghost, nobody")))
    assert ran.status == FlowRun.Status.FAILED and ran.failed_step == "notify"
    assert "None of the recipients can be reached: ghost (not in the directory), nobody" \
        in ran.message
    assert "/cgi-bin/message/send" not in wecom.paths()
    row = IMMessage.objects.get()
    assert row.status == "failed" and "None of the recipients" in row.error
    assert step_log(ran, "notify").output["not_reached"] == ["ghost", "nobody"]


def test_users_the_platform_could_not_deliver_to_are_reported(wecom, account):
    wecom.known = {"lisi"}
    ran = run(flow_of(message_step(recipients="lisi, wangwu")))
    assert ran.status == "success"
    output = step_log(ran, "notify").output
    assert output["sent_to"] == ["lisi"] and output["not_reached"] == ["wangwu"]
    assert output["reasons"]["wangwu"] == "the IM platform could not deliver to them"
    wecom.known = set()
    ran = run(flow_of(message_step(recipients="lisi"), name="none"))
    assert ran.status == "failed"
    assert "The IM platform reached none of the recipients: lisi" in ran.message
    assert IMMessage.objects.order_by("id").last().status == "failed"


def test_a_text_message_joins_title_body_and_link(wecom, account):
    assert run(flow_of(message_step(type="text"))).status == "success"
    assert wecom.sent[0]["msgtype"] == "text"
    assert wecom.sent[0]["text"] == {"content": f"风险待处理：服务器宕机\n请尽快处理\n{LINK}"}
    assert IMMessage.objects.get().kind == "text"


def test_a_title_that_evaluates_empty_or_a_bad_link_fails_before_sending(wecom, account):
    ran = run(flow_of(message_step(title="{{ record.nothing }}")))
    assert ran.status == "failed" and "The message card's title is empty." in ran.message
    ran = run(flow_of(message_step(url="{{ record.title }}"), name="bad link"))
    assert ran.status == "failed" and "“url” must start with http:// or https://" in ran.message
    assert wecom.sent == [] and not IMMessage.objects.exists()


def test_it_uses_the_named_account_and_refuses_a_disabled_one(wecom, account):
    other = FakeWeCom()
    try:
        im_account(other, purpose="cloud_bridge", name="bridge")
        assert run(flow_of(message_step(account="bridge"))).status == "success"
        assert len(other.sent) == 1 and wecom.sent == []
        assert IMMessage.objects.get().account.name == "bridge"
        type(account).objects.filter(name="bridge").update(enabled=False)
        ran = run(flow_of(message_step(account="bridge"), name="disabled"))
        assert ran.status == "failed" and "The IM account “bridge” is disabled." in ran.message
    finally:
        other.close()


def test_without_an_enabled_im_account_the_step_says_so(wecom, account):
    type(account).objects.update(enabled=False)
    ran = run(flow_of(message_step()))
    assert ran.status == "failed" and "No IM account is enabled for IM" in ran.message


def test_a_transient_platform_error_is_retried_by_the_step_s_tries(wecom, account):
    wecom.fail_next = [-1]
    ran = run(flow_of({**message_step(), "tries": 2, "retry_wait": 0}))
    assert ran.status == "success"
    assert wecom.paths().count("/cgi-bin/message/send") == 2 and len(wecom.sent) == 1
    assert step_log(ran, "notify").tries == 2
    assert list(IMMessage.objects.order_by("id").values_list("status", flat=True)) == [
        "failed", "sent"]


def test_a_permanent_platform_error_is_not_retried(wecom, account):
    wecom.fail_next = [60011, 60011, 60011]
    ran = run(flow_of({**message_step(), "tries": 3, "retry_wait": 0}))
    assert ran.status == "failed" and "60011" in ran.message
    assert wecom.paths().count("/cgi-bin/message/send") == 1
    assert step_log(ran, "notify").tries == 1
    assert IMMessage.objects.get().status == "failed"


# -- im_group_create -------------------------------------------------------------------------
def test_it_creates_a_matter_group_tied_to_the_record(wecom, account):
    ran = run(flow_of(create_step(admins="wangwu")))
    assert ran.status == "success", ran.message
    group = IMGroup.objects.get()
    assert (group.kind, group.status, group.name, group.owner, group.members, group.admins,
            group.matter_type, group.matter_id, group.matter_url, group.topic_state,
            group.created_by_run_id) == (
        "matter", "active", "风险讨论：服务器宕机", "zhangsan", ["zhangsan", "lisi", "wangwu"],
        ["wangwu"], "request", "42", LINK, "", ran.pk)
    assert group.provider_group_id.startswith("oa") and len(group.provider_group_id) == 32
    assert wecom.chats == {group.provider_group_id: {
        "name": "风险讨论：服务器宕机", "owner": "zhangsan",
        "userlist": ["zhangsan", "lisi", "wangwu"]}}
    output = step_log(ran, "mkgroup").output
    assert (output["group"], output["group_id"], output["name"], output["not_reached"]) == (
        group.pk, group.provider_group_id, "风险讨论：服务器宕机", [])


def test_a_topic_group_starts_under_discussion_and_a_normal_one_has_no_topic(wecom, account):
    flow = flow_of(create_step(key="topic", kind="topic", matter_id="", matter_url=""),
                   create_step(key="plain", kind="normal", matter_id="", matter_url=""))
    assert run(flow).status == "success"
    topic, plain = IMGroup.objects.order_by("id")
    assert (topic.kind, topic.topic_state) == ("topic", "discussing")
    assert (plain.kind, plain.topic_state) == ("normal", "")
    # Two groups of one run get two chats.
    assert topic.provider_group_id != plain.provider_group_id and len(wecom.chats) == 2


def test_a_second_group_for_the_same_matter_is_refused_with_a_clear_error(wecom, account):
    flow = flow_of(create_step())
    first = run(flow)
    second = run(flow)
    group = IMGroup.objects.get()
    assert first.status == "success" and second.status == "failed"
    assert second.failed_step == "mkgroup"
    assert (f"The matter request 42 already has the group “风险讨论：服务器宕机” (#{group.pk}, "
            "active); dissolve it first.") in second.message
    assert len(appchat_calls(wecom, "create")) == 1
    assert step_log(second, "mkgroup").tries == 1  # permanent: the step's tries do not apply


def test_a_run_resumed_after_its_worker_died_keeps_the_matter_group_it_made(wecom, account):
    from datetime import timedelta

    from django.utils import timezone

    from actionflow import engine

    flow = flow_of(create_step())
    ran = run(flow)
    group = IMGroup.objects.get()
    # The worker died after the group was made but before the step was logged as done.
    ran.steps.filter(key="mkgroup").update(status="running")
    type(ran).objects.filter(pk=ran.pk).update(
        status="running", lease_until=timezone.now() - timedelta(seconds=1))
    resumed = engine.execute(ran.pk)
    assert resumed.status == "success", resumed.message
    assert step_log(resumed, "mkgroup").output["group"] == group.pk
    assert IMGroup.objects.count() == 1 and len(appchat_calls(wecom, "create")) == 1


def test_after_the_group_is_dissolved_the_matter_may_get_a_new_one(wecom, account):
    flow = flow_of(create_step())
    dissolve = flow_of(update_step(matter_id="{{ record.request_id }}", dissolve=True),
                       name="dissolve")
    assert run(flow).status == "success"
    assert run(dissolve).status == "success"
    again = run(flow)
    assert again.status == "success", again.message
    old, new = IMGroup.objects.order_by("id")
    assert old.status == "dissolved" and old.dissolved_at is not None
    assert new.status == "active" and new.matter_id == old.matter_id
    assert new.provider_group_id != old.provider_group_id and len(wecom.chats) == 2


def test_a_platform_failure_removes_the_claim_so_a_later_run_creates_the_group(wecom, account):
    flow = flow_of(create_step())
    wecom.fail_next = [86006]
    failed = run(flow)
    assert failed.status == "failed" and "86006" in failed.message
    assert not IMGroup.objects.exists()
    assert run(flow).status == "success"
    assert IMGroup.objects.get().status == "active"


def test_a_transient_platform_failure_is_retried_and_makes_one_group(wecom, account):
    wecom.fail_next = [-1]
    ran = run(flow_of({**create_step(), "tries": 2, "retry_wait": 0}))
    assert ran.status == "success"
    assert len(appchat_calls(wecom, "create")) == 2 and len(wecom.chats) == 1
    assert IMGroup.objects.get().status == "active"


class LosesFirstCreateAnswer(FakeWeCom):
    """Makes the chat, then answers 502 as if the answer was lost on the way back."""

    lost = False

    def answer(self, got):
        answer = super().answer(got)
        if got.path.startswith("/cgi-bin/appchat/create") and not self.lost:
            self.lost = True
            return Answer(502, {"errcode": -1})
        return answer


def test_a_try_after_a_lost_answer_adopts_the_chat_it_made(account):
    fake = LosesFirstCreateAnswer()
    try:
        type(account).objects.update(enabled=False)
        im_account(fake, name="flaky")
        ran = run(flow_of({**create_step(), "tries": 2, "retry_wait": 0}))
        assert ran.status == "success", ran.message
        group = IMGroup.objects.get()
        assert list(fake.chats) == [group.provider_group_id]  # one chat, not two
        assert len(appchat_calls(fake, "create")) == 2
    finally:
        fake.close()


def test_a_chat_id_held_by_another_group_is_not_adopted(wecom, account):
    # A normal group of the console holds the chat id the matter's group would ask for (a
    # database restored from an old backup could do this): the platform's "exists" answer is
    # then not this group's lost chat.
    wanted = chat_id(IMGroup(account=account, kind="matter", matter_type="request",
                             matter_id="42"), None)
    holder = with_chat(wecom, made_group(account, provider_group_id=wanted))
    ran = run(flow_of(create_step()))
    assert ran.status == "failed"
    assert (f"The IM platform already has the chat {wanted}, which belongs to the group "
            f"“风险讨论” (#{holder.pk}).") in ran.message
    assert IMGroup.objects.get() == holder


def test_a_claim_abandoned_by_a_lost_worker_is_taken_over(wecom, account, settings):
    flow = flow_of(create_step())
    earlier = run(flow_of(message_step(), name="earlier"))
    claim = IMGroup.objects.create(account=account, kind="matter", name="old", owner="zhangsan",
                                   matter_type="request", matter_id="42", status="creating",
                                   created_by_run=earlier)
    busy = run(flow)
    assert busy.status == "failed" and ", being created); dissolve it first" in busy.message
    settings.FLOW_RUN_LEASE_SECONDS = 60
    IMGroup.objects.filter(pk=claim.pk).update(
        updated_at=timezone.now() - timedelta(seconds=61))
    ran = run(flow)
    assert ran.status == "success", ran.message
    claim.refresh_from_db()
    assert (claim.status, claim.name, claim.created_by_run_id) == (
        "active", "风险讨论：服务器宕机", ran.pk)


def test_the_owner_defaults_to_the_flow_s_operator(wecom, account):
    ran = run(flow_of(create_step(owner="", kind="normal", matter_id="", matter_url=""),
                      operator="wangwu"))
    assert ran.status == "success"
    assert IMGroup.objects.get().owner == "wangwu"
    ran = run(flow_of(create_step(owner="", kind="normal", matter_id="", matter_url=""),
                      operator="", name="nobody"))
    assert ran.status == "failed"
    assert "The group needs an owner: set “owner”, or the flow's operator." in ran.message


def test_an_owner_who_cannot_be_reached_fails_and_unknown_members_are_reported(wecom, account):
    ran = run(flow_of(create_step(owner="ghost")))
    assert ran.status == "failed"
    assert "The owner ghost cannot be reached: not in the directory." in ran.message
    assert not IMGroup.objects.exists() and appchat_calls(wecom, "create") == []
    ran = run(flow_of(create_step(members="lisi, ghost"), name="ok"))
    assert ran.status == "success"
    assert step_log(ran, "mkgroup").output["not_reached"] == ["ghost"]
    assert IMGroup.objects.get().members == ["zhangsan", "lisi"]


class MessagesOnly(Provider):
    key = "test-messages-only"
    label = "Messages only"
    capabilities = frozenset({MESSAGE})


def test_a_provider_without_group_chats_fails_permanently_with_its_message(
        wecom, account, monkeypatch):
    monkeypatch.setitem(PROVIDERS, MessagesOnly.key, MessagesOnly)
    type(account).objects.update(enabled=False)
    im_account(wecom, name="plain", provider=MessagesOnly.key)
    ran = run(flow_of({**create_step(), "tries": 3, "retry_wait": 0}))
    assert ran.status == "failed"
    assert "The IM provider Messages only does not support group chats." in ran.message
    assert step_log(ran, "mkgroup").tries == 1 and not IMGroup.objects.exists()


# -- im_group_message ------------------------------------------------------------------------
def test_it_creates_the_group_and_sends_a_card_to_it(wecom, account):
    ran = run(flow_of(create_step(), group_message_step(button_text="查看")))
    assert ran.status == "success", ran.message
    group = IMGroup.objects.get()
    assert wecom.group_sent == [{
        "chatid": group.provider_group_id, "msgtype": "textcard",
        "textcard": {"title": "风险：服务器宕机", "description": "已超时 2 天", "url": LINK,
                     "btntxt": "查看"}}]
    row = IMMessage.objects.get()
    assert (row.group, row.status, row.kind, row.recipients, row.run_id) == (
        group, "sent", "card", [], ran.pk)
    assert step_log(ran, "say").output == {"message": row.pk, "message_id": "",
                                           "group": group.pk,
                                           "group_id": group.provider_group_id}


def test_it_finds_the_group_by_its_matter_and_sends_text(wecom, account):
    group = with_chat(wecom, made_group(account, kind="matter", matter_type="request",
                                        matter_id="42"))
    ran = run(flow_of(group_message_step(group="", matter_id="{{ record.request_id }}",
                                         type="text", title="")))
    assert ran.status == "success", ran.message
    assert wecom.group_sent == [{"chatid": "chat42", "msgtype": "text",
                                 "text": {"content": f"已超时 2 天\n{LINK}"}}]
    assert IMMessage.objects.get().group == group


def test_a_matter_without_a_live_group_or_an_unknown_group_fails(wecom, account):
    made_group(account, kind="matter", matter_type="request", matter_id="42",
               status="dissolved")
    ran = run(flow_of(group_message_step(group="", matter_id="42")))
    assert ran.status == "failed"
    assert "The matter request 42 has no group (none was created, or it was dissolved)." \
        in ran.message
    ran = run(flow_of(group_message_step(group="999"), name="unknown"))
    assert ran.status == "failed" and "There is no IM group #999." in ran.message
    assert wecom.group_sent == []


def test_a_dissolved_group_refuses_messages(wecom, account):
    group = with_chat(wecom, made_group(account, status="dissolved"))
    ran = run(flow_of(group_message_step(group=str(group.pk))))
    assert ran.status == "failed"
    assert f"The IM group “风险讨论” (#{group.pk}) was dissolved." in ran.message
    assert appchat_calls(wecom, "send") == [] and not IMMessage.objects.exists()


def test_an_ended_topic_refuses_messages_and_one_under_discussion_takes_them(wecom, account):
    ended = with_chat(wecom, made_group(account, kind="topic", topic_state="ended"))
    open_ = with_chat(wecom, made_group(account, kind="topic", topic_state="discussing",
                                        provider_group_id="chat43"))
    ran = run(flow_of(group_message_step(group=str(ended.pk))))
    assert ran.status == "failed"
    assert "has ended; nobody can speak in it any more." in ran.message
    assert run(flow_of(group_message_step(group=open_.pk), name="open")).status == "success"
    assert [m["chatid"] for m in wecom.group_sent] == ["chat43"]


def test_a_group_still_being_created_is_a_transient_failure(wecom, account):
    group = made_group(account, status="creating", provider_group_id="")
    ran = run(flow_of({**group_message_step(group=group.pk), "tries": 2, "retry_wait": 0}))
    assert ran.status == "failed" and "is still being created" in ran.message
    assert step_log(ran, "say").tries == 2


def test_a_group_send_error_is_retried_when_transient_and_recorded(wecom, account):
    group = with_chat(wecom, made_group(account))
    wecom.fail_next = [45009]
    ran = run(flow_of({**group_message_step(group=group.pk), "tries": 2, "retry_wait": 0}))
    assert ran.status == "success"
    assert list(IMMessage.objects.order_by("id").values_list("status", flat=True)) == [
        "failed", "sent"]
    wecom.fail_next = [86008]
    ran = run(flow_of({**group_message_step(group=group.pk), "tries": 2, "retry_wait": 0},
                      name="permanent"))
    assert ran.status == "failed" and step_log(ran, "say").tries == 1
    assert "the group chat was not created by this app" in ran.message


# -- im_group_update -------------------------------------------------------------------------
def test_an_operator_who_is_neither_owner_nor_admin_may_not_change_the_group(wecom, account):
    group = with_chat(wecom, made_group(account, admins=["lisi"]))
    ran = run(flow_of(update_step(group=group.pk, name="新名"), operator="wangwu"))
    assert ran.status == "failed"
    assert (f"The flow's operator wangwu is neither the owner nor an admin of the IM group "
            f"“风险讨论” (#{group.pk}), so may not change it.") in ran.message
    ran = run(flow_of(update_step(group=group.pk, dissolve=True), operator="", name="none"))
    assert ran.status == "failed" and "operator (none set) is neither" in ran.message
    assert appchat_calls(wecom, "update") == []
    group.refresh_from_db()
    assert (group.name, group.status) == ("风险讨论", "active")


def test_the_owner_changes_name_owner_and_members(wecom, account):
    group = with_chat(wecom, made_group(account, admins=["lisi"]))
    ran = run(flow_of(update_step(group=group.pk, name="新名", owner="lisi",
                                  add_members="wangwu, ghost", remove_members=["zhangsan"]),
                      operator="zhangsan"))
    assert ran.status == "success", ran.message
    assert wecom.updates == [{"chatid": "chat42", "name": "新名", "owner": "lisi",
                              "add_user_list": ["wangwu"], "del_user_list": ["zhangsan"]}]
    group.refresh_from_db()
    assert (group.name, group.owner, group.members, group.admins) == (
        "新名", "lisi", ["lisi", "wangwu"], ["lisi"])
    output = step_log(ran, "change").output
    assert output["changed"] == ["name", "owner", "members"]
    assert output["not_reached"] == ["ghost"]


def test_an_admin_adds_admins_and_ends_the_topic_after_which_nobody_can_speak(wecom, account):
    group = with_chat(wecom, made_group(account, kind="topic", topic_state="discussing",
                                        admins=["lisi"]))
    flow = flow_of(update_step(group=group.pk, add_admins="wangwu", topic_state="ended"),
                   group_message_step(group=group.pk), operator="lisi")
    ran = run(flow)
    assert ran.status == "failed" and ran.failed_step == "say"
    assert step_log(ran, "change").status == StepRun.Status.SUCCESS
    assert step_log(ran, "change").output["changed"] == ["members", "admins", "topic_state"]
    # The new admin was not a member: the platform is told to add them.
    assert wecom.updates == [{"chatid": "chat42", "add_user_list": ["wangwu"]}]
    group.refresh_from_db()
    assert (group.topic_state, group.admins, group.members) == (
        "ended", ["lisi", "wangwu"], ["zhangsan", "lisi", "wangwu"])
    assert appchat_calls(wecom, "send") == []


def test_console_side_changes_make_no_platform_call(wecom, account):
    group = with_chat(wecom, made_group(account, admins=["lisi"]))
    ran = run(flow_of(update_step(group=group.pk, remove_admins="lisi", name="风险讨论")))
    assert ran.status == "success"
    assert step_log(ran, "change").output["changed"] == ["admins"]
    assert appchat_calls(wecom, "update") == []
    group.refresh_from_db()
    assert group.admins == []


def test_the_owner_cannot_be_removed_and_only_topic_groups_have_a_topic_state(wecom, account):
    group = with_chat(wecom, made_group(account))
    ran = run(flow_of(update_step(group=group.pk, remove_members="zhangsan")))
    assert ran.status == "failed"
    assert "zhangsan owns the group and cannot be removed" in ran.message
    ran = run(flow_of(update_step(group=group.pk, topic_state="ended"), name="topic"))
    assert ran.status == "failed"
    assert "Only a topic group has a topic state" in ran.message
    assert appchat_calls(wecom, "update") == []


def test_dissolve_marks_the_group_dissolved_without_a_platform_call(wecom, account):
    group = with_chat(wecom, made_group(account, kind="matter", matter_type="request",
                                        matter_id="42"))
    ran = run(flow_of(update_step(matter_id="42", dissolve=True)))
    assert ran.status == "success"
    group.refresh_from_db()
    assert group.status == "dissolved" and group.dissolved_at is not None
    assert step_log(ran, "change").output["changed"] == ["status"]
    assert appchat_calls(wecom, "update") == [] and "chat42" in wecom.chats
    again = run(flow_of(update_step(group=group.pk, name="x"), name="again"))
    assert again.status == "failed" and "was dissolved" in again.message


def test_a_platform_error_on_a_change_leaves_the_group_as_it_was(wecom, account):
    group = with_chat(wecom, made_group(account))
    wecom.fail_next = [86003]
    ran = run(flow_of(update_step(group=group.pk, name="新名")))
    assert ran.status == "failed" and "the group chat does not exist" in ran.message
    group.refresh_from_db()
    assert group.name == "风险讨论"


def test_a_flow_that_names_a_later_step_s_group_is_refused():
    with pytest.raises(FlowProblem) as refused:
        make_flow("later", steps=[group_message_step(), create_step()])
    assert "comes later" in str(refused.value)


# -- admin ---------------------------------------------------------------------------------
@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser("root", password="pw")
    client.force_login(user)
    return client


def test_the_admin_lists_groups_and_messages_read_only(staff_client, wecom, account):
    assert run(flow_of(create_step(), group_message_step())).status == "success"
    assert run(flow_of(message_step(), name="message")).status == "success"
    group = IMGroup.objects.get()
    page = staff_client.get(reverse("admin:actionflow_imgroup_changelist"),
                            {"kind__exact": "matter", "q": "42"})
    assert page.status_code == 200
    assert "风险讨论：服务器宕机" in page.content.decode() and LINK in page.content.decode()
    page = staff_client.get(reverse("admin:actionflow_imgroup_change", args=[group.pk]))
    assert page.status_code == 200 and "zhangsan, lisi, wangwu" in page.content.decode()
    assert 'name="name"' not in page.content.decode()  # read-only
    page = staff_client.get(reverse("admin:actionflow_immessage_changelist"), {"q": "lisi"})
    text = page.content.decode()
    assert page.status_code == 200 and "风险待处理：服务器宕机" in text and "风险：服务器宕机" not in text
    page = staff_client.get(reverse("admin:actionflow_immessage_changelist"),
                            {"status__exact": "sent", "kind__exact": "card"})
    assert page.status_code == 200 and "风险：服务器宕机" in page.content.decode()
    assert staff_client.get(reverse("admin:actionflow_imgroup_add")).status_code == 403
    assert staff_client.get(reverse("admin:actionflow_imgroup_delete",
                                    args=[group.pk])).status_code == 403


def test_the_admin_actions_dissolve_groups_and_end_topics(staff_client, wecom, account):
    matter = made_group(account, kind="matter", matter_type="request", matter_id="42")
    topic = made_group(account, kind="topic", topic_state="discussing",
                       provider_group_id="chat43")
    url = reverse("admin:actionflow_imgroup_changelist")
    page = staff_client.post(url, {"action": "end_topic",
                                   "_selected_action": [matter.pk, topic.pk]}, follow=True,
                             HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert "The topic of 1 group ended" in text and "1 selected group is not a topic" in text
    staff_client.post(url, {"action": "mark_dissolved", "_selected_action": [matter.pk]})
    matter.refresh_from_db()
    topic.refresh_from_db()
    assert topic.topic_state == "ended" and matter.status == "dissolved"
    assert matter.dissolved_at is not None
    # The matter is free again.
    assert run(flow_of(create_step())).status == "success"


def test_the_admin_actions_need_the_change_permission(client, wecom, account):
    from django.contrib.auth.models import Permission

    group = made_group(account)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_imgroup"))
    client.force_login(viewer)
    url = reverse("admin:actionflow_imgroup_changelist")
    assert "mark_dissolved" not in client.get(url).content.decode()
    client.post(url, {"action": "mark_dissolved", "_selected_action": [group.pk]})
    group.refresh_from_db()
    assert group.status == "active"
