"""Admin of IM accounts and SMS gateways: secrets written but never shown, blank keeps them,
one enabled account per use, and the connection test against the fake WeCom."""
import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from integration.models import IMAccount, SmsGateway
from integration.secrets import MASK

from .test_notify_support import CORP, SECRET, im_account, wecom

pytestmark = pytest.mark.django_db
__all__ = ["wecom"]  # fixtures, imported to be used by name
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def staff(client, admin):
    client.force_login(admin)
    return client


def account_form(fake, **overrides):
    data = {"name": "WeCom", "provider": "wecom", "purpose": "im", "enabled": "on",
            "base_url": fake.url, "corp_id": CORP, "agent_id": "1000002", "secret": SECRET,
            "user_id_field": "login_id"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_it_adds_an_account_and_never_shows_its_secret_again(staff, wecom):
    r = staff.post(reverse("admin:integration_imaccount_add"), account_form(wecom))
    assert r.status_code == 302, r.content.decode()[:2000]
    account = IMAccount.objects.get()
    assert account.secret == SECRET
    page = staff.get(reverse("admin:integration_imaccount_change", args=[account.pk]),
                     **EN).content.decode()
    assert SECRET not in page and MASK + SECRET[-4:] in page
    listing = staff.get(reverse("admin:integration_imaccount_changelist")).content.decode()
    assert SECRET not in listing and MASK in listing


def test_a_blank_secret_keeps_the_stored_one(staff, wecom):
    account = im_account(wecom)
    r = staff.post(reverse("admin:integration_imaccount_change", args=[account.pk]),
                   account_form(wecom, secret="", agent_id="1000003"))
    assert r.status_code == 302, r.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.secret, account.agent_id) == (SECRET, "1000003")
    # the history says what changed: not the secret, which was kept
    change = LogEntry.objects.get(object_id=str(account.pk)).get_change_message()
    assert "agent" in change.lower() and "secret" not in change.lower()


def test_it_refuses_a_second_enabled_account_for_the_same_use(staff, wecom):
    im_account(wecom)
    page = staff.post(reverse("admin:integration_imaccount_add"), account_form(wecom),
                      **EN).content.decode()
    assert "already enabled" in page
    assert IMAccount.objects.count() == 1


def test_it_tests_the_connection_of_selected_accounts(staff, wecom):
    good = im_account(wecom)
    bad = im_account(wecom, purpose="cloud_bridge", secret="wrong-secret")
    r = staff.post(reverse("admin:integration_imaccount_changelist"),
                   {"action": "test_connections", "_selected_action": [good.pk, bad.pk]},
                   follow=True, **EN)
    texts = [str(m) for m in r.context["messages"]]
    assert any("gave an access token" in t for t in texts)
    assert any("40001" in t for t in texts)


def test_it_keeps_the_sms_token_write_only(staff):
    data = {"name": "SMS", "enabled": "on", "url": "http://127.0.0.1:9/sms", "method": "POST",
            "body_template": '{"m": "{mobile}", "c": "{content}"}', "token_header": "X-Key",
            "token": "sms-secret-token-4321", "success_field": "", "success_value": ""}
    r = staff.post(reverse("admin:integration_smsgateway_add"), data)
    assert r.status_code == 302, r.content.decode()[:2000]
    gateway = SmsGateway.objects.get()
    page = staff.get(reverse("admin:integration_smsgateway_change", args=[gateway.pk]),
                     **EN).content.decode()
    assert "sms-secret-token-4321" not in page and MASK + "4321" in page
    r = staff.post(reverse("admin:integration_smsgateway_change", args=[gateway.pk]),
                   {**data, "token": ""})
    assert r.status_code == 302
    gateway.refresh_from_db()
    assert gateway.token == "sms-secret-token-4321"
