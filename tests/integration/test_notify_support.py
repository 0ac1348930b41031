"""Helpers of the notification tests: persons, and the services on 127.0.0.1 the channels
talk to — a real SMTP sink, a fake WeCom API, an SMS gateway receiver."""
import itertools
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache

from integration.models import IMAccount, Person, SmsGateway
from tests.receivers import Answer, Receiver
from tests.smtp_sink import SmtpSink

_seq = itertools.count(1)
CORP, SECRET = "ww-corp-1", "app-secret-0123456789"


def person(login=None, **fields):
    n = next(_seq)
    login = login or f"user{n}"
    values = {"external_id": f"p-{login}", "name": f"Name {login}", "login_id": login,
              "email": f"{login}@example.test", "mobile": f"1380000{n:04d}"}
    values.update(fields)
    return Person.objects.create(**values)


@pytest.fixture
def smtp(settings):
    """A real SMTP server on 127.0.0.1, and Django's mail settings pointing at it."""
    sink = SmtpSink()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "console@example.test"
    yield sink
    sink.close()


class FakeWeCom:
    """WeCom's gettoken, message/send and appchat (create, update, send) on 127.0.0.1.
    `expire_next` answers that many calls with 42001 (token expired); `fail_next` answers that
    many with the given errcode; `known` users are reachable, others come back in
    "invaliduser". `sent` holds messages to persons, `chats` the group chats by id (name,
    owner, userlist, as updated), `updates` the appchat/update bodies, `group_sent` the
    appchat/send bodies."""

    def __init__(self, corp=CORP, secret=SECRET, known=None):
        self.corp, self.secret, self.known = corp, secret, known
        self.tokens = []
        self.sent = []
        self.chats = {}
        self.updates = []
        self.group_sent = []
        self.expire_next = 0
        self.fail_next = []
        self.receiver = Receiver(self.answer)
        self.url = self.receiver.url

    def answer(self, got):
        parts = urlsplit(got.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/cgi-bin/gettoken":
            if (query.get("corpid"), query.get("corpsecret")) != (self.corp, self.secret):
                return Answer(body={"errcode": 40001, "errmsg": "invalid credential"})
            self.tokens.append(f"tok-{len(self.tokens) + 1}")
            return Answer(body={"errcode": 0, "errmsg": "ok", "access_token": self.tokens[-1],
                                "expires_in": 7200})
        handler = {"/cgi-bin/message/send": self._message_send,
                   "/cgi-bin/appchat/create": self._chat_create,
                   "/cgi-bin/appchat/update": self._chat_update,
                   "/cgi-bin/appchat/send": self._chat_send}.get(parts.path)
        if handler is None:
            return Answer(404, {"errcode": 404})
        if not self.tokens or query.get("access_token") != self.tokens[-1]:
            return Answer(body={"errcode": 40014, "errmsg": "invalid access_token"})
        if self.expire_next:
            self.expire_next -= 1
            return Answer(body={"errcode": 42001, "errmsg": "access_token expired"})
        if self.fail_next:
            return Answer(body={"errcode": self.fail_next.pop(0), "errmsg": "scripted"})
        return Answer(body={"errcode": 0, "errmsg": "ok", **handler(got.json())})

    def _message_send(self, body):
        self.sent.append(body)
        users = body["touser"].split("|")
        invalid = [u for u in users if self.known is not None and u not in self.known]
        return {"msgid": f"m{len(self.sent)}", "invaliduser": "|".join(invalid)}

    def _chat_create(self, body):
        chat_id = body.get("chatid") or f"wrchat{len(self.chats) + 1}"
        if chat_id in self.chats:
            return {"errcode": 86215, "errmsg": "chatid exists"}
        self.chats[chat_id] = {"name": body.get("name", ""), "owner": body.get("owner", ""),
                               "userlist": list(body["userlist"])}
        return {"chatid": chat_id}

    def _chat_update(self, body):
        chat = self.chats.get(body["chatid"])
        if chat is None:
            return {"errcode": 86003, "errmsg": "chatid not exist"}
        self.updates.append(body)
        chat["name"] = body.get("name", chat["name"])
        chat["owner"] = body.get("owner", chat["owner"])
        chat["userlist"] = [u for u in chat["userlist"] + body.get("add_user_list", [])
                            if u not in body.get("del_user_list", [])]
        return {}

    def _chat_send(self, body):
        if body["chatid"] not in self.chats:
            return {"errcode": 86003, "errmsg": "chatid not exist"}
        self.group_sent.append(body)
        return {}

    def paths(self):
        return [urlsplit(p).path for p in self.receiver.paths()]

    def close(self):
        self.receiver.close()


@pytest.fixture
def wecom():
    cache.clear()
    fake = FakeWeCom()
    yield fake
    fake.close()


def im_account(fake, purpose="im", **fields):
    values = {"name": f"WeCom {purpose}", "provider": "wecom", "purpose": purpose,
              "base_url": fake.url, "corp_id": fake.corp, "agent_id": "1000002",
              "secret": fake.secret, "enabled": True}
    values.update(fields)
    account = IMAccount(**values)
    account.full_clean()
    account.save()
    return account


@pytest.fixture
def sms_receiver():
    server = Receiver(Answer(body={"code": "0", "msg": "ok"}))
    yield server
    server.close()


def sms_gateway(url, **fields):
    values = {"name": "SMS", "url": url, "enabled": True,
              "body_template": '{"phone": "{mobile}", "text": "{content}", "sign": "OA"}',
              "token_header": "X-Api-Key", "token": "sms-token-1",
              "success_field": "code", "success_value": "0"}
    values.update(fields)
    gateway = SmsGateway(**values)
    gateway.full_clean()
    gateway.save()
    return gateway
