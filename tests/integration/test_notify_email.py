"""The email channel through Django's mail, against a real SMTP server on 127.0.0.1."""
import pytest

from integration.notify import get_channel
from tests.receivers import Receiver

from .test_notify_support import person, smtp

pytestmark = pytest.mark.django_db
__all__ = ["smtp"]  # fixtures, imported to be used by name


def test_it_sends_one_mail_to_every_person_with_an_address(smtp):
    a, b = person("zhangsan"), person("lisi")
    nobody = person("wangwu", email="")
    result = get_channel("email").send([a, b, nobody], "推送熔断: 主OA", "目标系统无法访问。\n请处理。")
    assert result.ok and not result.permanent
    assert result.reached == [a.pk, b.pk]
    assert "wangwu" in result.detail and "2 of 3" in result.detail
    [mail] = smtp.mails
    assert mail.rcpt_tos == ["zhangsan@example.test", "lisi@example.test"]
    assert mail.mail_from == "console@example.test"
    assert mail.subject == "推送熔断: 主OA"
    assert mail.body.strip() == "目标系统无法访问。\n请处理。"


def test_it_keeps_a_subject_on_one_line(smtp):
    get_channel("email").send([person()], "line one\nline two", "body")
    assert smtp.mails[0].subject == "line one line two"


def test_it_logs_in_with_the_configured_account(smtp, settings):
    smtp.credentials = ("alerts", "mail-pw")
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "alerts", "mail-pw"
    assert get_channel("email").send([person()], "s", "c").ok
    assert smtp.mails[0].login == "alerts"


def test_it_reports_refused_credentials_as_permanent(smtp, settings):
    smtp.credentials = ("alerts", "mail-pw")
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "alerts", "wrong"
    result = get_channel("email").send([person()], "s", "c")
    assert not result.ok and result.permanent
    assert "refused our login" in result.detail
    assert smtp.mails == []


def test_it_reports_a_busy_server_as_transient(smtp):
    smtp.mail_replies.append("451 4.3.0 try again later")
    result = get_channel("email").send([person()], "s", "c")
    assert not result.ok and not result.permanent
    assert "451" in result.detail
    assert get_channel("email").send([person()], "s", "c").ok  # the next try goes through


def test_it_reports_a_closed_port_as_transient(settings):
    closed = Receiver()
    port = closed.server.server_port
    closed.close()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    result = get_channel("email").send([person()], "s", "c")
    assert not result.ok and not result.permanent
    assert f"127.0.0.1:{port}" in result.detail


def test_it_fails_permanently_without_a_call_when_nobody_has_an_address(smtp):
    result = get_channel("email").send([person("zhaoliu", email="")], "s", "c")
    assert not result.ok and result.permanent
    assert "zhaoliu" in result.detail
    assert smtp.sessions == 0
    result = get_channel("email").send([], "s", "c")
    assert not result.ok and result.permanent and smtp.sessions == 0
