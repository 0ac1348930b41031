"""The E10 push type against a fake E10 on 127.0.0.1: the token flow (authorize, access token,
refresh, cache, one fetch at a time, retry once on a refused token), the fields of each state,
and how every failure is classified."""
import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from pushconfig.delivery import transport_for
from pushconfig.models import PushAttempt, PushRecord
from pushconfig.transports import e10
from tests.integration.helpers import todo_event
from tests.receivers import Answer, Receiver

from .conftest import closed_port, deliver_all, make_config, send_directly
from .conftest import post_events as post

pytestmark = pytest.mark.django_db
PARAMS = {"sysCode": "OA", "corpId": "corp-42", "state": "abc123", "app_key": "key-1",
          "app_secret": "S3CRET-app-secret-0123456789"}
OK = {"message": {"errcode": "200", "errmsg": "success"},
      "data": {"operResult": "1", "message": "成功"}}
T = "2026-11-20T09:{:02d}:00+08:00"


class FakeE10:
    """Issues codes and tokens like E10 does and checks the token on every receive call.
    `receive` decides the answer of a receive call that carries a valid token."""

    def __init__(self, receive=None, app_secret=PARAMS["app_secret"], expires_in=7200,
                 authorize_delay=0.0):
        self.receive = receive or (lambda body: Answer(body=OK))
        self.app_secret = app_secret
        self.expires_in = expires_in
        self.authorize_delay = authorize_delay
        self.codes, self.valid, self.refresh_tokens = set(), set(), set()
        self.issued = 0
        self.lock = threading.Lock()

    def _token(self):
        with self.lock:
            self.issued += 1
            n = self.issued
        self.valid.add(f"AT-{n}")
        self.refresh_tokens.add(f"RT-{n}")
        return {"errcode": "0", "errmsg": "success", "accessToken": f"AT-{n}",
                "refreshToken": f"RT-{n}", "expires_in": self.expires_in}

    def __call__(self, got):
        path = urlsplit(got.path).path
        if path == e10.AUTHORIZE:
            with self.lock:
                code = f"CODE-{len(self.codes) + 1}"
                self.codes.add(code)
            return Answer(body={"errcode": "0", "code": code}, delay=self.authorize_delay)
        body = got.json()
        if path == e10.ACCESS_TOKEN:
            if body.get("app_secret") != self.app_secret or body.get("code") not in self.codes:
                return Answer(body={"errcode": "100004", "errmsg": "app_key或app_secret错误"})
            return Answer(body=self._token())
        if path == e10.REFRESH_TOKEN:
            if body.get("refresh_token") not in self.refresh_tokens:
                return Answer(body={"errcode": "100005", "errmsg": "refresh_token无效"})
            return Answer(body=self._token())
        if path == e10.RECEIVE:
            if body.get("access_token") not in self.valid:
                return Answer(body={"message": {"errcode": "401",
                                                "errmsg": "access_token已过期或无效"},
                                    "data": {}})
            return self.receive(body)
        return Answer(404, {"error": "no such path"})


@pytest.fixture(autouse=True)
def fresh_tokens():
    e10.forget_tokens()
    yield
    e10.forget_tokens()


@pytest.fixture
def fake():
    return FakeE10()


@pytest.fixture
def target(fake):
    server = Receiver(fake)
    yield server
    server.close()


def e10_config(url, **params):
    return make_config(url, push_type="e10", params={**PARAMS, **params})


def calls(server, path):
    return [r for r in server.requests if urlsplit(r.path).path == path]


def receive_bodies(server):
    return [r.json() for r in calls(server, e10.RECEIVE)]


def record(config):
    return PushRecord.objects.get(config=config)


# -- the fields and the token flow -----------------------------------------------------------

def test_it_fetches_a_token_and_sends_each_state_with_the_e10_fields(api, target):
    config = e10_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)),
         todo_event(receiver="wangwu", business_status="cc", occurred_at=T.format(1)))
    post(api, todo_event(data_set="done", business_status="approve", occurred_at=T.format(2)))
    post(api, todo_event(data_set="over", business_status="archive", occurred_at=T.format(3)))
    post(api, todo_event(data_set="delete", business_status="delete", occurred_at=T.format(4)))
    deliver_all(config)

    (authorize,) = calls(target, e10.AUTHORIZE)
    assert authorize.method == "GET"
    assert parse_qs(urlsplit(authorize.path).query) == {
        "corpid": ["corp-42"], "response_type": ["code"], "state": ["abc123"]}
    (token_call,) = calls(target, e10.ACCESS_TOKEN)
    assert token_call.json() == {"app_key": "key-1", "app_secret": PARAMS["app_secret"],
                                 "grant_type": "authorization_code", "code": "CODE-1"}

    bodies = receive_bodies(target)
    assert {b["access_token"] for b in bodies} == {"AT-1"}
    lisi = [b for b in bodies if b["receiver"] == "lisi"]
    assert [b["isremark"] for b in lisi] == ["0", "2", "4", "-1"]
    assert [b["viewtype"] for b in lisi] == ["0", "1", "1", "0"]
    (cc,) = [b for b in bodies if b["receiver"] == "wangwu"]
    assert cc["isremark"] == "8"
    first = lisi[0]
    assert first["syscode"] == "OA"
    assert first["flowid"] == "1001"
    assert first["requestname"] == "出差申请-张三"
    assert first["workflowcode"] == "wf-travel"
    assert first["nodename"] == first["receivernodename"] == "部门经理审批"
    assert first["creator"] == "zhangsan"
    assert first["createdatetime"] == "2026-11-20 09:00:00"
    assert first["receivedatetime"] == "2026-11-20 09:01:00"
    assert first["requestStatus"] == "审批中" and lisi[2]["requestStatus"] == "归档"
    assert isinstance(first["receivets"], int) and not isinstance(first["receivets"], bool)
    assert [b["receivets"] for b in lisi] == sorted(b["receivets"] for b in lisi)
    assert first["pcurl"].endswith("requestid=1001")
    assert set(PushRecord.objects.filter(config=config).values_list("outcome", flat=True)) == {
        "success"}
    assert all(r.headers.get("Idempotency-Key") for r in calls(target, e10.RECEIVE))


def test_it_reuses_the_cached_token_until_the_config_is_edited(api, target):
    config = e10_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    post(api, todo_event(receiver="wangwu", occurred_at=T.format(2)))
    deliver_all(config)
    assert len(calls(target, e10.AUTHORIZE)) == 1
    assert [b["access_token"] for b in receive_bodies(target)] == ["AT-1", "AT-1"]

    config.system_name = "E10 新"
    config.save()  # a new updated_at: the edited config may point elsewhere, so a new token
    post(api, todo_event(receiver="zhaoliu", occurred_at=T.format(3)))
    deliver_all(config)
    assert len(calls(target, e10.AUTHORIZE)) == 2
    assert receive_bodies(target)[-1]["access_token"] == "AT-2"


def test_it_refreshes_the_token_shortly_before_it_expires(api, target, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(e10, "_clock", lambda: now[0])
    config = e10_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)

    now[0] += 7200 - e10.REFRESH_MARGIN - 1  # still inside the token's comfortable life
    post(api, todo_event(receiver="wangwu", occurred_at=T.format(2)))
    deliver_all(config)
    assert not calls(target, e10.REFRESH_TOKEN)

    now[0] += 2  # within the margin: refreshed, not fetched anew
    post(api, todo_event(receiver="zhaoliu", occurred_at=T.format(3)))
    deliver_all(config)
    (refresh,) = calls(target, e10.REFRESH_TOKEN)
    assert refresh.json() == {"grant_type": "refresh_token", "refresh_token": "RT-1"}
    assert len(calls(target, e10.AUTHORIZE)) == 1
    assert [b["access_token"] for b in receive_bodies(target)] == ["AT-1", "AT-1", "AT-2"]


def test_it_fetches_anew_when_the_refresh_token_is_refused(api, fake, target, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(e10, "_clock", lambda: now[0])
    config = e10_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    fake.refresh_tokens.clear()
    now[0] += 7200
    post(api, todo_event(receiver="wangwu", occurred_at=T.format(2)))
    deliver_all(config)
    assert len(calls(target, e10.REFRESH_TOKEN)) == 1
    assert len(calls(target, e10.AUTHORIZE)) == 2
    assert receive_bodies(target)[-1]["access_token"] == "AT-2"
    assert PushRecord.objects.filter(config=config, outcome="success").count() == 2


def test_it_fetches_one_token_when_many_threads_need_one_at_once(db):
    fake = FakeE10(authorize_delay=0.3)
    server = Receiver(fake)
    try:
        config = e10_config(server.url)
        tokens, errors = [], []

        def worker():
            try:
                tokens.append(transport_for(config).token())
            except Exception as exc:  # noqa: BLE001 - a thread must hand every error back
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert errors == []
        assert tokens == ["AT-1"] * 8
        assert len(calls(server, e10.AUTHORIZE)) == 1
        assert len(calls(server, e10.ACCESS_TOKEN)) == 1
    finally:
        server.close()


def test_it_drops_a_refused_token_and_retries_once_with_a_new_one(api, fake, target):
    config = e10_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    fake.valid.clear()  # the target forgot every token (restart, revoked)
    post(api, todo_event(receiver="wangwu", occurred_at=T.format(2)))
    deliver_all(config)
    assert [b["access_token"] for b in receive_bodies(target)] == ["AT-1", "AT-1", "AT-2"]
    second = PushRecord.objects.filter(config=config, receiver="wangwu").get()
    assert (second.outcome, second.attempts) == ("success", 1)


@pytest.mark.parametrize("refusal", [
    Answer(body={"message": {"errcode": "401", "errmsg": "access_token已过期或无效"}, "data": {}}),
    Answer(401, {"message": {"errcode": "401", "errmsg": "unauthorized"}}),
], ids=["errcode", "http-401"])
def test_it_fails_permanently_when_even_a_new_token_is_refused(api, target, fake, refusal):
    fake.receive = lambda body: refusal
    config = e10_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    assert [b["access_token"] for b in receive_bodies(target)] == ["AT-1", "AT-2"]
    failed = record(config)
    assert (failed.outcome, failed.permanent, failed.attempts) == ("failed", True, 1)
    assert "refused a token" in failed.reason


# -- failures, each in its class ---------------------------------------------------------------

def test_it_fails_permanently_with_the_targets_words_on_a_bad_app_secret(api, target):
    config = e10_config(target.url, app_secret="wrong-secret-0123456789")
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    failed = record(config)
    assert (failed.outcome, failed.permanent) == ("failed", True)
    assert "app_key或app_secret错误" in failed.reason
    assert not calls(target, e10.RECEIVE)
    attempt = PushAttempt.objects.get(record=failed)
    assert attempt.request["app_key"] == "key-1"
    assert "wrong-secret-0123456789" not in json.dumps(attempt.request, ensure_ascii=False)
    assert attempt.request["code"] != "CODE-1"  # the one-time code is masked too


def test_it_fails_permanently_when_the_corp_id_is_refused(api, fake, target):
    server = Receiver(lambda got: Answer(body={"errcode": "100001", "errmsg": "corpid不存在"})
                      if urlsplit(got.path).path == e10.AUTHORIZE else fake(got))
    try:
        config = e10_config(server.url)
        post(api, todo_event(occurred_at=T.format(1)))
        deliver_all(config)
        failed = record(config)
        assert (failed.outcome, failed.permanent) == ("failed", True)
        assert "corpid不存在" in failed.reason
        attempt = PushAttempt.objects.get(record=failed)
        assert attempt.request["corpid"] == "corp-42"
    finally:
        server.close()


def test_it_fails_permanently_on_the_vendors_business_refusal(api, fake, target):
    fake.receive = lambda body: Answer(body={
        "message": {"errcode": "200", "errmsg": "success"},
        "data": {"operResult": "0", "message": "接收人lisi不存在"}})
    config = e10_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    failed = record(config)
    assert (failed.outcome, failed.permanent, failed.next_attempt_at) == ("failed", True, None)
    assert "接收人lisi不存在" in failed.reason
    assert "接收人lisi不存在" in PushAttempt.objects.get(record=failed).response


def test_it_retries_a_refusal_that_says_the_target_is_busy(api, fake, target):
    fake.receive = lambda body: Answer(body={
        "message": {"errcode": "200", "errmsg": "success"},
        "data": {"operResult": "0", "message": "系统繁忙，请稍后再试"}})
    config = e10_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    failed = record(config)
    assert (failed.outcome, failed.permanent) == ("failed", False)
    assert failed.next_attempt_at is not None


def test_it_treats_a_503_as_transient_and_honours_retry_after(api, fake, target):
    fake.receive = lambda body: Answer(503, {"error": "maintenance"}, {"Retry-After": "7"})
    config = e10_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)))
    (delivery,) = send_directly(config)
    assert (delivery.ok, delivery.permanent, delivery.http_status) == (False, False, 503)
    assert delivery.retry_after == 7.0

    deliver_all(config)
    failed = record(config)
    assert (failed.outcome, failed.permanent) == ("failed", False)
    assert failed.next_attempt_at is not None


def test_it_treats_a_closed_port_as_transient(api):
    config = e10_config(f"http://127.0.0.1:{closed_port()}")
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    failed = record(config)
    assert (failed.outcome, failed.permanent) == ("failed", False)
    assert failed.next_attempt_at is not None
    assert "Cannot connect" in failed.reason or "连接" in failed.reason


def test_it_never_logs_the_secret_or_the_token(api, target):
    config = e10_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    attempt = PushAttempt.objects.get(record__config=config)
    logged = json.dumps(attempt.request, ensure_ascii=False) + attempt.response
    assert attempt.outcome == "success"
    assert attempt.request["syscode"] == "OA"
    assert attempt.request["access_token"] and attempt.request["access_token"] != "AT-1"
    assert "AT-1" not in logged
    assert PARAMS["app_secret"] not in logged
    assert PARAMS["app_secret"] not in json.dumps(config.params)  # encrypted at rest
    assert config.get_params()["app_secret"] == PARAMS["app_secret"]


# -- parameters and the connection test --------------------------------------------------------

def test_it_accepts_the_seeds_parameters():
    params = e10.E10Transport.Params(data=PARAMS)
    assert params.is_valid(), params.errors
    assert e10.E10Transport.Params(data={**PARAMS, "state": ""}).is_valid()
    assert set(e10.E10Transport.suite_params) == set(PARAMS)
    assert e10.E10Transport.secret_params == ("app_secret",)


@pytest.mark.parametrize("state", ["abc-123", "状态", "a b", "x" * 129])
def test_it_refuses_a_state_that_is_not_alphanumeric_or_too_long(state):
    params = e10.E10Transport.Params(data={**PARAMS, "state": state})
    assert not params.is_valid()
    assert list(params.errors) == ["state"]
    assert "state" in str(params.errors["state"][0])


def test_it_reports_a_working_connection(target):
    config = e10_config(target.url)
    result = transport_for(config).test_connection()
    assert result.ok, result.reason
    assert "7200" in result.reason
    assert PARAMS["app_secret"] not in json.dumps(result.request) + result.response
    assert len(calls(target, e10.ACCESS_TOKEN)) == 1


def test_it_reports_refused_credentials_in_the_connection_test(target):
    config = e10_config(target.url, app_secret="wrong-secret-0123456789")
    result = transport_for(config).test_connection()
    assert (result.ok, result.permanent) == (False, True)
    assert "app_key或app_secret错误" in result.reason
    assert "wrong-secret-0123456789" not in json.dumps(result.request, ensure_ascii=False)
