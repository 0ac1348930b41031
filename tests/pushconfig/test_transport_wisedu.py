"""The Wisedu todo-centre push type against a receiver on 127.0.0.1: the signed headers
(verified here by recomputing the HMAC), the fields, the configurable paths and answer fields,
and the class of every failure."""
import hashlib
import hmac
import json
import time

import pytest
from django.test import override_settings

from pushconfig.delivery import open_records, transport_for
from pushconfig.items import build_items
from pushconfig.models import PushAttempt, PushRecord
from pushconfig.transports.wisedu import DEFAULTS, WiseduTransport
from tests.integration.helpers import todo_event
from tests.receivers import Answer, Receiver

from .conftest import closed_port, deliver_all, make_config
from .conftest import post_events as post

pytestmark = pytest.mark.django_db
SECRET = "wisedu-app-secret-0123456789"
PARAMS = {"appId": "oa-app", "appSecret": SECRET, "oaAddress": "https://oa.example.edu.cn/"}
OK = {"code": "0", "message": "ok"}
T = "2026-11-20T09:{:02d}:00+08:00"


@pytest.fixture
def target():
    server = Receiver(Answer(body=OK))
    yield server
    server.close()


def wisedu_config(url, **params):
    return make_config(url, push_type="wisedu", params={**PARAMS, **params})


def record(config):
    return PushRecord.objects.get(config=config)


def header(got, name):
    return {k.lower(): v for k, v in got.headers.items()}[name.lower()]


def verify(got, app_id="oa-app", secret=SECRET):
    """The receiving side's check: HMAC-SHA256(appSecret, appId + timestamp + raw body)."""
    timestamp = header(got, "timestamp")
    assert header(got, "appId") == app_id
    assert timestamp.isdigit() and abs(int(timestamp) - time.time() * 1000) < 60_000
    expected = hmac.new(secret.encode(), (app_id + timestamp).encode() + got.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header(got, "sign"), expected)


@override_settings(OA_BASE_URL="http://oa.internal:8080")
def test_it_posts_each_state_signed_to_its_path_with_the_mapped_fields(api, target):
    config = wisedu_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)),
         todo_event(receiver="wangwu", business_status="cc", occurred_at=T.format(1)))
    post(api, todo_event(data_set="done", business_status="approve", occurred_at=T.format(2)))
    post(api, todo_event(data_set="over", business_status="archive", occurred_at=T.format(3)))
    post(api, todo_event(data_set="delete", business_status="delete", occurred_at=T.format(4)))
    deliver_all(config)

    for got in target.requests:
        verify(got)
        assert header(got, "Content-Type").startswith("application/json")
        assert header(got, "Idempotency-Key").startswith(f"{config.pk}:")
    lisi = [r for r in target.requests if r.json()["receiver"] == "lisi"]
    assert [r.path for r in lisi] == ["/api/todo/push", "/api/todo/done", "/api/todo/done",
                                      "/api/todo/delete"]
    assert [r.json()["status"] for r in lisi] == ["todo", "done", "over", "delete"]
    # One todo item, one taskId: the done and the delete find the todo.
    assert {r.json()["taskId"] for r in lisi} == {"1001-lisi"}
    (cc,) = [r.json() for r in target.requests if r.json()["receiver"] == "wangwu"]
    assert (cc["status"], cc["taskId"]) == ("cc", "1001-wangwu")
    assert lisi[0].json() == {
        "taskId": "1001-lisi", "flowId": "1001", "title": "出差申请-张三",
        "url": "https://oa.example.edu.cn/workflow/request/ViewRequest.jsp?requestid=1001",
        "mobileUrl": "https://oa.example.edu.cn/mobile/plugin/1/view.jsp?requestid=1001",
        "creator": "zhangsan", "receiver": "lisi", "createTime": "2026-11-20 09:00:00",
        "status": "todo",
    }
    assert set(PushRecord.objects.filter(config=config).values_list("outcome", flat=True)) == {
        "success"}


def test_it_signs_the_exact_bytes_sent_even_with_chinese_text(api, target):
    config = wisedu_config(target.url)
    post(api, todo_event(request_title="请假申请 — 李四 «年假»", occurred_at=T.format(1)))
    deliver_all(config)
    (got,) = target.requests
    verify(got)
    assert "请假申请 — 李四 «年假»".encode() in got.body  # UTF-8, not \\u escapes
    # Re-encoding the same fields (ASCII escapes) gives another sign: the bytes are signed.
    escaped = json.dumps(got.json()).encode()
    assert escaped != got.body
    other = hmac.new(SECRET.encode(), ("oa-app" + header(got, "timestamp")).encode() + escaped,
                     hashlib.sha256).hexdigest()
    assert header(got, "sign") != other


def test_it_uses_the_configured_paths_and_answer_fields(api):
    answers = {"/v2/todo": Answer(body={"result": {"status": True, "msg": "好"}}),
               "/v2/finish": Answer(body={"result": {"status": False, "msg": "任务不存在"}})}
    server = Receiver(lambda got: answers[got.path])
    try:
        config = wisedu_config(server.url, todoPath="/v2/todo", donePath="/v2/finish",
                               deletePath="/v2/remove", successField="result.status",
                               successValue="true", messageField="result.msg")
        post(api, todo_event(occurred_at=T.format(1)))
        post(api, todo_event(data_set="done", business_status="approve",
                             occurred_at=T.format(2)))
        deliver_all(config)
        assert server.paths() == ["/v2/todo", "/v2/finish"]
        todo, done = PushRecord.objects.filter(config=config).order_by("id")
        assert todo.outcome == "success"
        assert (done.outcome, done.permanent) == ("failed", True)
        assert "任务不存在" in done.reason
    finally:
        server.close()


def test_it_applies_the_documented_defaults_to_missing_options():
    params = WiseduTransport.Params(data=PARAMS)
    assert params.is_valid(), params.errors
    for name, default in DEFAULTS.items():
        assert params.validated_data[name] == default
        assert default in str(params.fields[name].help_text)
    for name, field in params.fields.items():
        if name != "oaAddress":
            assert "interface document" in str(field.help_text), name
    assert WiseduTransport.secret_params == ("appSecret",)


@pytest.mark.parametrize("changes, field", [
    ({"oaAddress": "not a url"}, "oaAddress"),
    ({"todoPath": "api/todo"}, "todoPath"),
    ({"deletePath": "/api/ todo"}, "deletePath"),
    ({"appSecret": ""}, "appSecret"),
])
def test_it_refuses_bad_parameters_naming_the_field(changes, field):
    params = WiseduTransport.Params(data={**PARAMS, **changes})
    assert not params.is_valid()
    assert list(params.errors) == [field]


# -- failures, each in its class ---------------------------------------------------------------

def test_it_fails_permanently_with_the_targets_message_on_a_business_refusal(api):
    server = Receiver(Answer(body={"code": "1001", "message": "接收人lisi不存在"}))
    try:
        config = wisedu_config(server.url)
        post(api, todo_event(occurred_at=T.format(1)))
        deliver_all(config)
        failed = record(config)
        assert (failed.outcome, failed.permanent, failed.next_attempt_at) == ("failed", True, None)
        assert "接收人lisi不存在" in failed.reason
    finally:
        server.close()


def test_it_fails_permanently_on_a_refused_signature(api):
    server = Receiver(Answer(401, {"code": "401", "message": "sign error"}))
    try:
        config = wisedu_config(server.url)
        post(api, todo_event(occurred_at=T.format(1)))
        deliver_all(config)
        failed = record(config)
        assert (failed.outcome, failed.permanent) == ("failed", True)
        assert PushAttempt.objects.get(record=failed).http_status == 401
    finally:
        server.close()


def test_it_retries_a_refusal_that_says_the_target_is_busy(api):
    server = Receiver(Answer(body={"code": "500", "message": "系统繁忙，请稍后重试"}))
    try:
        config = wisedu_config(server.url)
        post(api, todo_event(occurred_at=T.format(1)))
        deliver_all(config)
        failed = record(config)
        assert (failed.outcome, failed.permanent) == ("failed", False)
        assert failed.next_attempt_at is not None
    finally:
        server.close()


def test_it_treats_a_503_as_transient_and_honours_retry_after(api):
    server = Receiver(Answer(503, {"message": "maintenance"}, {"Retry-After": "7"}))
    try:
        config = wisedu_config(server.url)
        post(api, todo_event(occurred_at=T.format(1)))
        records = list(open_records(config.pk))
        items, _refused = build_items(config, records)
        (delivery,) = transport_for(config).send(items)
        assert (delivery.ok, delivery.permanent, delivery.http_status) == (False, False, 503)
        assert delivery.retry_after == 7.0

        deliver_all(config)
        failed = record(config)
        assert (failed.outcome, failed.permanent) == ("failed", False)
        assert failed.next_attempt_at is not None
    finally:
        server.close()


def test_it_treats_a_closed_port_as_transient(api):
    config = wisedu_config(f"http://127.0.0.1:{closed_port()}")
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    failed = record(config)
    assert (failed.outcome, failed.permanent) == ("failed", False)
    assert failed.next_attempt_at is not None


def test_it_treats_an_answer_that_is_not_json_as_transient(api):
    server = Receiver(Answer(200, "<html>gateway</html>", {"Content-Type": "text/html"}))
    try:
        config = wisedu_config(server.url)
        post(api, todo_event(occurred_at=T.format(1)))
        deliver_all(config)
        failed = record(config)
        assert (failed.outcome, failed.permanent) == ("failed", False)
    finally:
        server.close()


def test_it_never_logs_the_secret_or_the_sign(api, target):
    config = wisedu_config(target.url)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    attempt = PushAttempt.objects.get(record__config=config)
    logged = json.dumps(attempt.request, ensure_ascii=False) + attempt.response
    assert attempt.outcome == "success"
    assert attempt.request["path"] == "/api/todo/push"
    assert attempt.request["taskId"] == "1001-lisi"
    assert SECRET not in logged
    assert header(target.requests[0], "sign") not in logged
    assert SECRET not in json.dumps(config.params)  # encrypted at rest


# -- the connection test -----------------------------------------------------------------------

def test_it_shows_the_answer_to_the_connection_probe(target):
    config = wisedu_config(target.url)
    result = transport_for(config).test_connection()
    assert result.ok, result.reason
    assert '"code": "0"' in result.reason or '"code":"0"' in result.reason
    (got,) = target.requests
    assert got.path == "/api/todo/push"
    assert got.json() == {"taskId": "connection-test"}
    verify(got)


def test_it_shows_a_refused_connection_probe_with_the_targets_words():
    server = Receiver(Answer(body={"code": "403", "message": "appId未授权"}))
    try:
        config = wisedu_config(server.url)
        result = transport_for(config).test_connection()
        assert (result.ok, result.permanent) == (False, True)
        assert "appId未授权" in result.reason
        assert "appId未授权" in result.response
    finally:
        server.close()
