"""IM and cloud bridge alerts through the WeCom provider, against a fake WeCom API on
127.0.0.1: token fetched and cached, refreshed once when WeCom says it expired, app messages
to the persons' IM user ids."""
import pytest
from django.core.exceptions import ValidationError

from integration.im import GROUP, MESSAGE, provider_for
from integration.models import IMAccount
from integration.notify import get_channel

from .test_notify_support import FakeWeCom, im_account, person, wecom

pytestmark = pytest.mark.django_db
__all__ = ["wecom"]  # fixtures, imported to be used by name


def test_it_gets_a_token_and_sends_one_text_message_to_every_person(wecom):
    account = im_account(wecom)
    a, b = person("zhangsan"), person("lisi")
    result = get_channel("im").send([a, b], "推送熔断", "主OA 无法访问")
    assert result.ok and result.reached == [a.pk, b.pk]
    assert wecom.paths() == ["/cgi-bin/gettoken", "/cgi-bin/message/send"]
    [message] = wecom.sent
    assert message == {"touser": "zhangsan|lisi", "msgtype": "text",
                       "agentid": int(account.agent_id),
                       "text": {"content": "推送熔断\n主OA 无法访问"}}


def test_it_keeps_the_token_until_it_expires(wecom):
    im_account(wecom)
    channel = get_channel("im")
    channel.send([person()], "s", "one")
    channel.send([person()], "s", "two")
    assert wecom.paths().count("/cgi-bin/gettoken") == 1
    assert len(wecom.sent) == 2


def test_it_refreshes_an_expired_token_once_and_sends_again(wecom):
    im_account(wecom)
    get_channel("im").send([person()], "s", "warm the cache")
    wecom.expire_next = 1
    result = get_channel("im").send([person("lisi")], "s", "after expiry")
    assert result.ok
    assert wecom.tokens == ["tok-1", "tok-2"]
    assert wecom.paths()[-3:] == ["/cgi-bin/message/send", "/cgi-bin/gettoken",
                                  "/cgi-bin/message/send"]
    assert [m["text"]["content"] for m in wecom.sent] == ["s\nwarm the cache", "s\nafter expiry"]


def test_it_gives_up_when_the_fresh_token_is_refused_too(wecom):
    im_account(wecom)
    wecom.expire_next = 5
    result = get_channel("im").send([person()], "s", "c")
    assert not result.ok and "42001" in result.detail
    assert wecom.paths().count("/cgi-bin/message/send") == 2  # the call, and one retry


def test_it_reports_users_wecom_does_not_know_without_failing(wecom):
    im_account(wecom)
    wecom.known = {"zhangsan"}
    a, ghost = person("zhangsan"), person("ghost")
    result = get_channel("im").send([a, ghost], "s", "c")
    assert result.ok and result.reached == [a.pk]
    assert "ghost" in result.detail


def test_it_uses_the_person_field_the_account_names(wecom):
    im_account(wecom, user_id_field="mobile")
    someone = person(mobile="13900001111")
    nobody = person("nomobile", mobile="")
    result = get_channel("im").send([someone, nobody], "s", "c")
    assert wecom.sent[0]["touser"] == "13900001111"
    assert result.ok and "nomobile" in result.detail


def test_it_reports_a_wrong_secret_as_permanent(wecom):
    im_account(wecom, secret="not-the-secret")
    result = get_channel("im").send([person()], "s", "c")
    assert not result.ok and result.permanent and "40001" in result.detail
    assert wecom.sent == []


def test_it_reports_wecom_being_busy_as_transient(wecom):
    im_account(wecom)
    wecom.fail_next = [-1]
    result = get_channel("im").send([person()], "s", "c")
    assert not result.ok and not result.permanent


def test_it_reports_an_unreachable_api_as_transient(wecom):
    im_account(wecom, base_url="http://127.0.0.1:9")
    result = get_channel("im").send([person()], "s", "c")
    assert not result.ok and not result.permanent
    assert "127.0.0.1:9" in result.detail and "corpsecret" not in result.detail


def test_it_fails_permanently_without_an_enabled_account(wecom):
    im_account(wecom, enabled=False)
    result = get_channel("im").send([person()], "s", "c")
    assert not result.ok and result.permanent
    assert wecom.receiver.requests == []


def test_the_cloud_bridge_sends_through_its_own_account(wecom):
    bridge = FakeWeCom(corp="ww-bridge", secret="bridge-secret-987654")
    try:
        im_account(wecom)
        im_account(bridge, purpose="cloud_bridge", agent_id="1000009")
        get_channel("cloud_bridge").send([person("zhangsan")], "s", "via bridge")
        assert wecom.sent == []
        assert bridge.sent[0]["agentid"] == 1000009
        assert bridge.sent[0]["text"]["content"] == "s\nvia bridge"
    finally:
        bridge.close()


def test_it_allows_one_enabled_account_per_use(wecom):
    im_account(wecom)
    im_account(wecom, purpose="cloud_bridge")
    with pytest.raises(ValidationError) as refused:
        im_account(wecom, name="second")
    assert "already enabled" in str(refused.value)
    im_account(wecom, name="spare", enabled=False)
    assert IMAccount.objects.count() == 3


def test_it_checks_the_account_fields_wecom_needs():
    account = IMAccount(name="x", provider="wecom", corp_id="", agent_id="abc", secret="")
    with pytest.raises(ValidationError) as refused:
        account.full_clean()
    assert set(refused.value.message_dict) >= {"corp_id", "agent_id", "secret"}
    account = IMAccount(name="x", provider="nope", corp_id="c", agent_id="1", secret="s")
    with pytest.raises(ValidationError) as refused:
        account.full_clean()
    assert "provider" in refused.value.message_dict


def test_it_keeps_the_secret_encrypted_at_rest(wecom):
    from django.db import connection

    account = im_account(wecom)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM integration_imaccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and wecom.secret not in stored
    assert IMAccount.objects.get().secret == wecom.secret


def test_a_provider_says_what_it_can_do_and_refuses_the_rest(wecom):
    provider = provider_for(im_account(wecom))
    assert provider.supports(MESSAGE) and provider.supports(GROUP)
    provider.require(GROUP)  # a provider without groups refuses: tests/integration/test_im_groups.py
    assert "tok-" in provider.token() and "corp" in provider.test_connection()
