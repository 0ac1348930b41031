"""Message cards and group chats of the IM providers (seeds 004: send an IM message, create an
IM group, send to it, change its settings), through WeCom against a fake WeCom API on
127.0.0.1, and the refusals of a provider that has no group chats."""
from types import SimpleNamespace

import pytest

from integration.im import (
    GROUP,
    MESSAGE,
    Card,
    GroupResult,
    Provider,
    ProviderError,
    Unsupported,
    provider_for,
)

from .test_notify_support import im_account, wecom

pytestmark = pytest.mark.django_db
__all__ = ["wecom"]  # fixtures, imported to be used by name

RECORD = "https://oa.example.test/risk/42"


def provider(fake):
    return provider_for(im_account(fake))


def risk_card(**fields):
    values = {"title": "风险待处理：服务器宕机", "description": "发现日期 2025-07-29，已超时 1 天",
              "url": RECORD, "button_text": "查看"}
    values.update(fields)
    return Card(**values)


def calls(fake):
    """The API calls after the token, in order."""
    return [p for p in fake.paths() if p != "/cgi-bin/gettoken"]


# -- cards to persons ----------------------------------------------------------------------
def test_it_sends_a_card_to_persons_as_a_textcard(wecom):
    account = im_account(wecom)
    result = provider_for(account).send_card(["zhangsan", "lisi"], risk_card())
    assert wecom.sent == [{
        "touser": "zhangsan|lisi", "msgtype": "textcard", "agentid": int(account.agent_id),
        "textcard": {"title": "风险待处理：服务器宕机", "description": "发现日期 2025-07-29，已超时 1 天",
                     "url": RECORD, "btntxt": "查看"}}]
    assert result.message_id == "m1" and result.invalid_users == []


def test_a_card_leaves_out_an_empty_button_and_cuts_a_long_one(wecom):
    p = provider(wecom)
    p.send_card(["zhangsan"], risk_card(button_text=" "))
    p.send_card(["zhangsan"], risk_card(button_text="立即查看详情"))
    assert "btntxt" not in wecom.sent[0]["textcard"]
    assert wecom.sent[1]["textcard"]["btntxt"] == "立即查看"


def test_a_card_without_a_link_is_sent_as_text_with_its_title_and_description(wecom):
    provider(wecom).send_card(["zhangsan"], risk_card(url=""))
    [message] = wecom.sent
    assert message["msgtype"] == "text" and "textcard" not in message
    assert message["text"] == {"content": "风险待处理：服务器宕机\n发现日期 2025-07-29，已超时 1 天"}


def test_it_cuts_a_long_card_at_a_character_boundary(wecom):
    provider(wecom).send_card(["zhangsan"], risk_card(title="风" * 100, description="险" * 400))
    card = wecom.sent[0]["textcard"]
    title, description = card["title"].encode(), card["description"].encode()
    assert 120 < len(title) <= 128 and 500 < len(description) <= 512
    assert card["title"] == "风" * 41 + "…" and card["description"].endswith("险…")


def test_it_reports_persons_wecom_does_not_know_in_a_card_send(wecom):
    wecom.known = {"zhangsan"}
    result = provider(wecom).send_card(["zhangsan", "ghost"], risk_card())
    assert result.invalid_users == ["ghost"]


@pytest.mark.parametrize("user_ids, card, why", [
    ([], risk_card(), "No recipient"),
    (["zhangsan"], risk_card(title=" "), "needs a title"),
    (["zhangsan"], risk_card(url=RECORD + "?q=" + "x" * 2048), "at most 2048 bytes"),
])
def test_it_refuses_a_card_it_cannot_send_before_calling(wecom, user_ids, card, why):
    with pytest.raises(ProviderError) as refused:
        provider(wecom).send_card(user_ids, card)
    assert refused.value.permanent and why in refused.value.reason
    assert wecom.receiver.requests == []


# -- creating a group ----------------------------------------------------------------------
def test_it_creates_a_group_with_the_owner_among_its_members(wecom):
    result = provider(wecom).create_group("风险讨论：服务器宕机", "wangwu",
                                          ["zhangsan", "lisi", "zhangsan", ""])
    assert isinstance(result, GroupResult) and result.group_id == "wrchat1"
    assert "wrchat1" in result.response
    [(path, body)] = [(r.path, r.json()) for r in wecom.receiver.requests
                      if "appchat" in r.path]
    assert path.startswith("/cgi-bin/appchat/create?access_token=tok-1")
    assert body == {"name": "风险讨论：服务器宕机", "owner": "wangwu",
                    "userlist": ["wangwu", "zhangsan", "lisi"]}
    assert wecom.chats["wrchat1"]["owner"] == "wangwu"


def test_it_asks_for_our_group_id_and_cuts_a_long_name(wecom):
    result = provider(wecom).create_group("群" * 60, "zhangsan", ["zhangsan", "lisi"],
                                          group_id="risk42")
    assert result.group_id == "risk42"
    assert wecom.chats["risk42"]["name"] == "群" * 49 + "…"


def test_it_refuses_a_malformed_group_id_before_calling(wecom):
    p = provider(wecom)
    for bad in ("risk-42", "风险", "x" * 33):
        with pytest.raises(ProviderError) as refused:
            p.create_group("n", "zhangsan", ["lisi"], group_id=bad)
        assert refused.value.permanent and bad in refused.value.reason
    assert wecom.receiver.requests == []


@pytest.mark.parametrize("owner, members, count", [
    ("zhangsan", [], 1),
    ("zhangsan", ["zhangsan", " zhangsan "], 1),
    ("", ["lisi"], 1),
    ("zhangsan", [f"u{n}" for n in range(2000)], 2001),
])
def test_it_refuses_too_few_or_too_many_members_before_calling(wecom, owner, members, count):
    with pytest.raises(ProviderError) as refused:
        provider(wecom).create_group("n", owner, members)
    assert refused.value.permanent
    assert f"have {count}" in refused.value.reason
    assert ("at least 2" if count < 2 else "at most 2000") in refused.value.reason
    assert wecom.receiver.requests == []


def test_it_lets_wecom_pick_the_owner_when_none_is_given(wecom):
    provider(wecom).create_group("", "", ["zhangsan", "lisi"])
    assert wecom.chats["wrchat1"] == {"name": "", "owner": "", "userlist": ["zhangsan", "lisi"]}


def test_a_group_id_already_taken_is_permanent_and_explained(wecom):
    p = provider(wecom)
    p.create_group("n", "zhangsan", ["lisi"], group_id="risk42")
    with pytest.raises(ProviderError) as refused:
        p.create_group("n", "zhangsan", ["lisi"], group_id="risk42")
    assert refused.value.permanent and refused.value.code == 86215
    assert "already exists" in refused.value.reason and "86215" in refused.value.response


# -- changing a group ----------------------------------------------------------------------
def test_it_sends_only_the_settings_it_is_given(wecom):
    p = provider(wecom)
    p.create_group("旧名", "zhangsan", ["lisi", "wangwu"], group_id="risk42")
    p.update_group("risk42", name="新名")
    answer = p.update_group("risk42", owner="lisi", add_members=["zhaoliu", ""],
                            remove_members=["wangwu"])
    assert wecom.updates == [
        {"chatid": "risk42", "name": "新名"},
        {"chatid": "risk42", "owner": "lisi", "add_user_list": ["zhaoliu"],
         "del_user_list": ["wangwu"]},
    ]
    assert "errcode" in answer
    assert wecom.chats["risk42"] == {"name": "新名", "owner": "lisi",
                                     "userlist": ["zhangsan", "lisi", "zhaoliu"]}


def test_a_change_with_nothing_to_change_makes_no_call(wecom):
    assert provider(wecom).update_group("risk42", add_members=[""], remove_members=()) == ""
    assert wecom.receiver.requests == []


def test_it_refuses_an_empty_new_name_owner_or_group_id(wecom):
    p = provider(wecom)
    for group_id, change in (("risk42", {"name": " "}), ("risk42", {"owner": ""}),
                             ("", {"name": "n"})):
        with pytest.raises(ProviderError) as refused:
            p.update_group(group_id, **change)
        assert refused.value.permanent
    assert wecom.receiver.requests == []


def test_changing_a_group_wecom_does_not_know_is_permanent(wecom):
    with pytest.raises(ProviderError) as refused:
        provider(wecom).update_group("nosuchchat", name="n")
    assert refused.value.permanent and refused.value.code == 86003
    assert "does not exist" in refused.value.reason


# -- sending to a group --------------------------------------------------------------------
def test_it_sends_text_and_a_card_to_a_group(wecom):
    p = provider(wecom)
    chat = p.create_group("风险讨论", "zhangsan", ["lisi"]).group_id
    p.send_group_text(chat, "请尽快处理")
    result = p.send_group_card(chat, risk_card())
    assert wecom.group_sent == [
        {"chatid": chat, "msgtype": "text", "text": {"content": "请尽快处理"}},
        {"chatid": chat, "msgtype": "textcard",
         "textcard": {"title": "风险待处理：服务器宕机", "description": "发现日期 2025-07-29，已超时 1 天",
                      "url": RECORD, "btntxt": "查看"}},
    ]
    assert "errcode" in result.response
    assert calls(wecom) == ["/cgi-bin/appchat/create", "/cgi-bin/appchat/send",
                            "/cgi-bin/appchat/send"]
    assert wecom.sent == []


def test_a_group_card_without_a_link_is_sent_as_text(wecom):
    p = provider(wecom)
    chat = p.create_group("n", "zhangsan", ["lisi"]).group_id
    p.send_group_card(chat, risk_card(url="", description=""))
    assert wecom.group_sent == [{"chatid": chat, "msgtype": "text",
                                 "text": {"content": "风险待处理：服务器宕机"}}]


def test_it_cuts_a_long_group_text_to_wecom_s_limit(wecom):
    p = provider(wecom)
    chat = p.create_group("n", "zhangsan", ["lisi"]).group_id
    p.send_group_text(chat, "险" * 1000)
    content = wecom.group_sent[0]["text"]["content"]
    assert len(content.encode()) <= 2048 and content.endswith("险…")


def test_it_refreshes_an_expired_token_once_on_a_group_call(wecom):
    p = provider(wecom)
    chat = p.create_group("n", "zhangsan", ["lisi"]).group_id
    wecom.expire_next = 1
    p.send_group_text(chat, "after expiry")
    assert wecom.tokens == ["tok-1", "tok-2"]
    assert wecom.paths()[-3:] == ["/cgi-bin/appchat/send", "/cgi-bin/gettoken",
                                  "/cgi-bin/appchat/send"]
    assert [m["text"]["content"] for m in wecom.group_sent] == ["after expiry"]


def test_it_gives_up_on_a_group_call_when_the_fresh_token_is_refused_too(wecom):
    wecom.expire_next = 5
    with pytest.raises(ProviderError) as refused:
        provider(wecom).create_group("n", "zhangsan", ["lisi"])
    assert refused.value.code == 42001
    assert calls(wecom) == ["/cgi-bin/appchat/create"] * 2
    assert wecom.chats == {}


@pytest.mark.parametrize("errcode, permanent", [(-1, False), (45009, False), (45033, False),
                                                (86006, True), (60011, True), (99999, True)])
def test_group_calls_tell_transient_from_permanent_errors(wecom, errcode, permanent):
    wecom.fail_next = [errcode]
    with pytest.raises(ProviderError) as refused:
        provider(wecom).create_group("n", "zhangsan", ["lisi"])
    assert refused.value.permanent is permanent and refused.value.code == errcode
    assert str(errcode) in refused.value.reason and wecom.chats == {}


def test_sending_to_a_group_wecom_does_not_know_is_permanent(wecom):
    with pytest.raises(ProviderError) as refused:
        provider(wecom).send_group_card("nosuchchat", risk_card())
    assert refused.value.permanent and refused.value.code == 86003


def test_an_unreachable_api_is_transient_for_group_calls(wecom):
    p = provider_for(im_account(wecom, base_url="http://127.0.0.1:9"))
    with pytest.raises(ProviderError) as refused:
        p.send_group_text("risk42", "c")
    assert not refused.value.permanent and "corpsecret" not in refused.value.reason


# -- what a provider declares --------------------------------------------------------------
class MessagesOnly(Provider):
    """A provider that can message persons but has no group chats (not registered)."""

    key = "messages-only"
    label = "Messages only"
    capabilities = frozenset({MESSAGE})


class Nothing(Provider):
    key = "nothing"
    label = "Nothing"
    capabilities = frozenset()


class GroupsDeclaredOnly(Provider):
    key = "groups-declared"
    label = "Groups declared"
    capabilities = frozenset({MESSAGE, GROUP})


def bare(cls):
    return cls(SimpleNamespace(base_url="http://127.0.0.1:9"))


GROUP_CALLS = {
    "create_group": lambda p: p.create_group("n", "zhangsan", ["lisi"]),
    "update_group": lambda p: p.update_group("risk42", name="n"),
    "send_group_text": lambda p: p.send_group_text("risk42", "c"),
    "send_group_card": lambda p: p.send_group_card("risk42", risk_card()),
}


def test_wecom_declares_group_chats():
    from integration.im.wecom import WeCom

    assert WeCom.supports(MESSAGE) and WeCom.supports(GROUP)


@pytest.mark.parametrize("method", sorted(GROUP_CALLS))
def test_a_provider_without_group_chats_refuses_every_group_call(method):
    with pytest.raises(Unsupported) as refused:
        GROUP_CALLS[method](bare(MessagesOnly))
    assert refused.value.permanent and refused.value.capability == GROUP
    assert refused.value.reason == ("The IM provider Messages only does not support "
                                    "group chats.")


def test_a_provider_without_messages_refuses_a_card():
    with pytest.raises(Unsupported) as refused:
        bare(Nothing).send_card(["zhangsan"], risk_card())
    assert refused.value.capability == MESSAGE and "messages" in refused.value.reason


@pytest.mark.parametrize("method", sorted(GROUP_CALLS))
def test_a_provider_declaring_group_chats_must_implement_them(method):
    with pytest.raises(TypeError, match=f"GroupsDeclaredOnly must implement {method}"):
        GROUP_CALLS[method](bare(GroupsDeclaredOnly))
    with pytest.raises(TypeError, match="must implement send_card"):
        bare(GroupsDeclaredOnly).send_card(["zhangsan"], risk_card())


def test_a_card_reads_as_text_where_no_card_can_be_shown():
    assert risk_card().as_text() == ("风险待处理：服务器宕机\n发现日期 2025-07-29，已超时 1 天\n"
                                     + RECORD)
    assert Card(title="t").as_text() == "t"
