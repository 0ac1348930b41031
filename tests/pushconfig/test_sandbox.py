"""The sandbox target (/sandbox/...): each protocol answered as the real system answers, the
configurable failures, what is stored and for how long, its admin pages, and the console's own
push types delivering to it end to end over a live server."""
import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from xml.sax.saxutils import escape

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from lxml import etree

import pushconfig.admin.sandbox  # noqa: F401  (registers the admin pages)
from integration.hooks.signature import compute_sign
from pushconfig import delivery
from pushconfig.models import PushAttempt, PushRecord, SandboxArrival, SandboxBehaviour
from pushconfig.sandbox import store, views
from pushconfig.sandbox.e10 import E10
from pushconfig.sandbox.ecology import Ecology
from pushconfig.transports import e10 as e10_transport
from tests.integration.helpers import todo_event

from .conftest import deliver_all, make_config, post_events

pytestmark = pytest.mark.django_db

ECOLOGY = "/sandbox/ecology/rest/ofs/"
E10_OAUTH = "/sandbox/e10/papi/openapi/oauth2/"
E10_RECEIVE = "/sandbox/e10/papi/openapi/api/open_intunifytodo/server_engine/receiveRequestInfo"
LANDRAY = "/sandbox/landray/sys/webservice/sysNotifyTodoWebService"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
LANDRAY_NS = "http://webservice.notify.sys.kmss.landray.com/"
HEADER_NS = "http://sys.webservice.client"
WHSEC = "whsec_" + base64.b64encode(b"sandbox-signing-key-0123456789").decode()
T = "2026-11-20T09:{:02d}:00+08:00"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Pushes are delivered by the tests (deliver_all), not handed to a broker on commit."""
    monkeypatch.setattr("pushconfig.pipeline.enqueue_lanes", lambda pairs: None)
    e10_transport.forget_tokens()
    yield
    e10_transport.forget_tokens()
    # A kept-alive push connection would hold a live server thread, and its database
    # connection, open past the test (PostgreSQL then cannot drop the test database).
    delivery.close_sessions()


# -- helpers ----------------------------------------------------------------------------------
def behave(protocol, **fields):
    behaviour = SandboxBehaviour.of(protocol)
    for name, value in fields.items():
        setattr(behaviour, name, value)
    behaviour.full_clean()
    behaviour.save()
    return behaviour


def ecology_item(**overrides):
    item = {"syscode": "DEMO", "flowid": "1001", "requestname": "出差申请-张三",
            "workflowname": "出差申请", "nodename": "部门经理审批", "pcurl": "http://oa/pc",
            "appurl": "http://oa/app", "creator": "zhangsan",
            "createdatetime": "2026-11-20 09:00:00", "receiver": "lisi",
            "receivedatetime": "2026-11-20 09:05:00", "isremark": "0", "viewtype": "0",
            "receivets": "1795223100000"}
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def post_json(client, path, body, **headers):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, raw, content_type="application/json", headers=headers)


def ecology(client, operation, body, **headers):
    return post_json(client, ECOLOGY + operation, body, **headers)


def e10_token(client, app_key="key-1", app_secret="secret-1"):
    code = client.get(E10_OAUTH + "authorize",
                      {"corpid": "corp-1", "response_type": "code", "state": "abc"}).json()
    assert code["errcode"] == "0" and code["state"] == "abc", code
    token = post_json(client, E10_OAUTH + "access_token", {
        "app_key": app_key, "app_secret": app_secret, "grant_type": "authorization_code",
        "code": code["code"]}).json()
    return token


def e10_item(token, **overrides):
    item = ecology_item(workflowcode="wf-travel", receivernodename="部门经理审批",
                        requestStatus="审批中", receivets=1795223100000, access_token=token)
    item.update(overrides)
    return item


def envelope(operation, fields, user="ekp-ws", password="pw-1"):
    header = "" if user is None else (
        f'<soap:Header><h:RequestSOAPHeader xmlns:h="{HEADER_NS}"><h:user>{escape(user)}</h:user>'
        f"<h:password>{escape(password)}</h:password></h:RequestSOAPHeader></soap:Header>")
    args = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}">'
            f'{header}<soap:Body><ns:{operation} xmlns:ns="{LANDRAY_NS}"><arg0>{args}</arg0>'
            f"</ns:{operation}></soap:Body></soap:Envelope>").encode()


def send_context(**overrides):
    fields = {"appName": "OA", "modelName": "oa.request", "modelId": "1001:lisi:",
              "subject": "出差申请-张三", "link": "http://oa/pc", "type": "1",
              "targets": '{"LoginName":"lisi"}', "createTime": "2026-11-20 09:00:00",
              "docCreator": '{"LoginName":"zhangsan"}', "level": "3"}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def soap(client, body, content_type="text/xml; charset=utf-8"):
    return client.post(LANDRAY, body, content_type=content_type, headers={"SOAPAction": '""'})


def soap_result(response):
    root = etree.fromstring(response.content)
    result = root.find(f"{{{SOAP_ENV}}}Body")[0].find("return")
    message = result.find("message")
    return int(result.find("returnState").text), (message.text if message is not None else "")


def soap_fault(response):
    fault = etree.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    return fault.find("faultcode").text, fault.find("faultstring").text


def standard_headers(secret, body, msg_id="msg_1", timestamp=None):
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def disable(config):
    type(config).objects.filter(pk=config.pk).update(enabled=False)


def make_due(config):
    """Time passes: every retry that waits becomes due."""
    PushRecord.objects.filter(config=config, next_attempt_at__isnull=False).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))


def arrivals(**filters):
    return list(SandboxArrival.objects.filter(**filters).order_by("id"))


# -- e-cology -----------------------------------------------------------------------------------
ECOLOGY_CALLS = [
    ("ReceiveRequestInfoByJson", ecology_item(), "AutoNew"),
    ("ReceiveTodoRequestByJson", ecology_item(isremark=None, viewtype=None), "AutoNew"),
    ("ReceiveCCRequestByJson", ecology_item(isremark="8"), "AutoNew"),
    ("ProcessDoneRequestByJson", ecology_item(isremark="2", viewtype="1"), "AutoEdit"),
    ("ProcessOverRequestByJson", {"syscode": "DEMO", "flowid": "1001",
                                  "requestname": "出差申请-张三", "workflowname": "出差申请",
                                  "receiver": "lisi"}, "AutoEdit"),
    ("deleteRequestInfoByJson", {"syscode": "DEMO", "flowid": "1001"}, "AutoDel"),
    ("deleteUserRequestInfoByJson", {"syscode": "DEMO", "flowid": "1001", "userid": "lisi"},
     "AutoDel"),
]


@pytest.mark.parametrize(("operation", "body", "oper_type"), ECOLOGY_CALLS,
                         ids=[c[0] for c in ECOLOGY_CALLS])
def test_it_answers_each_ecology_operation_as_ecology_does(client, operation, body, oper_type):
    r = ecology(client, operation, body)
    assert r.status_code == 200
    assert r.json() == {"syscode": "DEMO", "dataType": "OfsTodoData", "operType": oper_type,
                        "operResult": "1", "message": r.json()["message"]}
    [arrival] = arrivals()
    assert (arrival.protocol, arrival.operation, arrival.method) == ("ecology", operation, "POST")
    assert arrival.body == body and arrival.accepted and arrival.status == 200
    assert arrival.path == ECOLOGY + operation
    assert json.loads(arrival.answer)["operResult"] == "1"


@pytest.mark.parametrize(("body", "named"), [
    (ecology_item(receiver=None), "receiver"),
    (ecology_item(requestname=""), "requestname"),
    (ecology_item(createdatetime="2026-11-20T09:00:00"), "createdatetime"),
    (ecology_item(receivedatetime="2026-02-30 09:00:00"), "receivedatetime"),
    (ecology_item(isremark="3"), "isremark"),
    (ecology_item(viewtype="2"), "viewtype"),
    (ecology_item(receivets="yesterday"), "receivets"),
    (ecology_item(isremark=0), "isremark"),  # every field travels as a string
], ids=["missing", "empty", "iso-date", "impossible-date", "isremark", "viewtype", "receivets",
        "number"])
def test_it_refuses_a_malformed_ecology_item_with_operresult_0_and_http_200(client, body, named):
    r = ecology(client, "ReceiveRequestInfoByJson", body)
    assert r.status_code == 200
    assert r.json()["operResult"] == "0"
    assert named in r.json()["message"]
    [arrival] = arrivals()
    assert not arrival.accepted and arrival.summary.startswith("1001")


def test_it_refuses_an_ecology_body_that_is_not_a_json_object(client):
    for raw in ("not json", "[1, 2]", b"\xff\xfe"):
        r = ecology(client, "ReceiveRequestInfoByJson", raw)
        assert (r.status_code, r.json()["operResult"]) == (200, "0")
    assert [a.accepted for a in arrivals()] == [False, False, False]


def test_it_answers_404_for_an_unknown_ecology_operation_and_405_for_a_get(client):
    assert ecology(client, "ReceiveSomething", ecology_item()).status_code == 404
    r = client.get(ECOLOGY + "ReceiveRequestInfoByJson")
    assert (r.status_code, r["Allow"]) == (405, "POST")
    assert [(a.operation, a.status) for a in arrivals()] == [
        ("ReceiveSomething", 404), ("ReceiveRequestInfoByJson", 405)]


def test_it_refuses_every_ecology_push_as_the_behaviour_says(client):
    behave("ecology", mode="refuse")
    r = ecology(client, "ReceiveRequestInfoByJson", ecology_item())
    assert (r.status_code, r.json()["operResult"]) == (200, "0")
    with translation.override("zh-hans"):  # the sandbox answers in the request's language
        assert r.json()["message"] == str(Ecology.default_refusal)
    behave("ecology", message="接收人不存在")
    assert ecology(client, "ReceiveRequestInfoByJson", ecology_item()).json()["message"] == \
        "接收人不存在"
    assert [a.mode for a in arrivals()] == ["refuse", "refuse"]


# -- behaviours ---------------------------------------------------------------------------------
def test_it_answers_503_with_retry_after_in_error_mode_whatever_it_is_sent(client):
    behave("ecology", mode="error", retry_after=120)
    for body in (ecology_item(), {"flowid": "x"}):
        r = ecology(client, "ReceiveRequestInfoByJson", body)
        assert (r.status_code, r["Retry-After"]) == (503, "120")
    behave("ecology", status=429, retry_after=0, message="slow down")
    r = ecology(client, "ReceiveRequestInfoByJson", ecology_item())
    assert (r.status_code, r.content.decode(), r.has_header("Retry-After")) == (
        429, "slow down", False)
    assert [a.status for a in arrivals()] == [503, 503, 429]


def test_it_fails_the_first_n_calls_then_succeeds_and_counts_again_after_a_save(client):
    behave("ecology", mode="fail_first_n", fail_first_n=2, retry_after=5)
    statuses = [ecology(client, "ReceiveRequestInfoByJson", ecology_item()).status_code
                for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert SandboxBehaviour.of("ecology").failed == 2
    behave("ecology", fail_first_n=1)  # saving starts the count afresh
    statuses = [ecology(client, "ReceiveRequestInfoByJson", ecology_item()).status_code
                for _ in range(2)]
    assert statuses == [503, 200]


def test_it_waits_in_slow_mode_never_longer_than_30_seconds(client, monkeypatch):
    behave("ecology", mode="slow", delay=1)
    started = time.monotonic()
    r = ecology(client, "ReceiveRequestInfoByJson", ecology_item())
    assert time.monotonic() - started >= 1
    assert r.json()["operResult"] == "1"

    with pytest.raises(ValidationError) as exc:
        behave("ecology", delay=31)
    assert "delay" in exc.value.message_dict
    slept = []
    monkeypatch.setattr(views, "sleep", slept.append)
    SandboxBehaviour.objects.filter(protocol="ecology").update(delay=600)  # past the form
    ecology(client, "ReceiveRequestInfoByJson", ecology_item())
    assert slept == [30]


def test_it_answers_404_and_stores_nothing_when_the_sandbox_is_switched_off(client, settings):
    settings.SANDBOX_ENABLED = False
    assert ecology(client, "ReceiveRequestInfoByJson", ecology_item()).status_code == 404
    assert client.post(E10_RECEIVE, "{}", content_type="application/json").status_code == 404
    assert client.get(LANDRAY + "?wsdl").status_code == 404
    assert client.post("/sandbox/webhook/x", {"a": "b"}).status_code == 404
    assert client.get("/sandbox/").status_code == 404
    assert not SandboxArrival.objects.exists()


def test_it_lists_the_server_url_of_each_protocol(client):
    urls = client.get("/sandbox/").json()["server_urls"]
    assert urls["ecology"] == "http://testserver/sandbox/ecology"
    assert urls["landray_soap"] == "http://testserver/sandbox/landray"


# -- what is stored -----------------------------------------------------------------------------
def test_it_stores_headers_without_cookies_and_masks_credentials(client):
    client.cookies["sessionid"] = "a-session-that-must-not-be-kept"
    ecology(client, "ReceiveRequestInfoByJson", ecology_item(),
            Authorization="Bearer very-secret-bearer-token-123", X_Trace="t-1")
    post_json(client, E10_OAUTH + "access_token", {"app_key": "k", "app_secret": "top-secret",
                                                   "grant_type": "authorization_code",
                                                   "code": "c"})
    client.post(E10_RECEIVE + "?access_token=token-in-the-query-string&x=1", "{}",
                content_type="application/json")
    first, second, third = arrivals()
    assert "token-in-the-query-string" not in third.path and third.path.endswith("&x=1")
    assert "Cookie" not in first.headers
    assert first.headers["X-Trace"] == "t-1"
    assert first.headers["Authorization"].startswith("••••") and \
        "very-secret" not in first.headers["Authorization"]
    assert second.body["app_secret"].startswith("••••")
    assert "top-secret" not in second.body_text


def test_it_masks_credentials_in_a_body_it_cannot_read_as_data(client):
    broken = '{"access_token": "tok-in-broken-json", "app_secret": "sec-in-broken-json"'
    ecology(client, "ReceiveRequestInfoByJson", broken)
    client.post(E10_RECEIVE, broken, content_type="application/json")
    post_json(client, "/sandbox/webhook/x", broken)
    client.post("/sandbox/webhook/x", "token=tok-in-text&x=1", content_type="text/plain")
    for arrival in arrivals():
        text = json.dumps(arrival.body, ensure_ascii=False) + arrival.body_text
        assert "in-broken-json" not in text and "tok-in-text" not in text, text
        assert "••••" in text


def test_it_stores_nul_characters_and_lone_surrogates_without_failing(client):
    raw = json.dumps(ecology_item(requestname="a\u0000b\ud800c"))
    r = ecology(client, "ReceiveRequestInfoByJson", raw)
    assert r.json()["operResult"] == "1"
    [arrival] = arrivals()
    assert "\x00" not in arrival.body["requestname"]


def test_it_refuses_a_body_over_a_megabyte_unread(client):
    r = ecology(client, "ReceiveRequestInfoByJson", "x" * (1024 * 1024 + 1))
    assert r.status_code == 413
    [arrival] = arrivals()
    assert (arrival.status, arrival.body) == (413, None)


def test_it_searches_arrivals_in_chinese_as_they_were_sent(client):
    ecology(client, "ReceiveRequestInfoByJson", ecology_item(requestname="费用报销-陈静"))
    ecology(client, "ReceiveRequestInfoByJson", ecology_item(requestname="请假申请"))
    found = SandboxArrival.objects.filter(body_text__icontains="费用报销")
    assert [a.body["requestname"] for a in found] == ["费用报销-陈静"]


def test_it_keeps_only_the_newest_arrivals(client, monkeypatch):
    monkeypatch.setattr(store, "RETAIN", 5)
    monkeypatch.setattr(store, "TRIM_EVERY", 4)
    for n in range(13):
        ecology(client, "ReceiveRequestInfoByJson", ecology_item(flowid=str(n)))
    kept = [a.body["flowid"] for a in arrivals()]
    # Trimmed on every 4th id: between 5 and 8 rows, always the newest, never a gap.
    assert 5 <= len(kept) <= 8
    assert kept == [str(n) for n in range(13 - len(kept), 13)]
    assert store.trim(retain=2) == len(kept) - 2
    assert [a.body["flowid"] for a in arrivals()] == ["11", "12"]
    assert store.trim(retain=2) == 0


# -- E10 ------------------------------------------------------------------------------------
def test_it_issues_e10_tokens_and_accepts_a_push_carrying_one(client):
    token = e10_token(client)
    assert token["expires_in"] == 7200 and token["accessToken"] and token["refreshToken"]
    r = post_json(client, E10_RECEIVE, e10_item(token["accessToken"]))
    assert r.json() == {"message": {"errcode": "200", "errmsg": "success"},
                        "data": {"operResult": "1"}}
    refreshed = post_json(client, E10_OAUTH + "refresh_token", {
        "grant_type": "refresh_token", "refresh_token": token["refreshToken"]}).json()
    assert refreshed["errcode"] == "0" and refreshed["accessToken"]
    r = post_json(client, E10_RECEIVE, e10_item(refreshed["accessToken"], isremark="-1"))
    assert r.json()["data"]["operResult"] == "1"
    assert [a.operation for a in arrivals()] == [
        "oauth2/authorize", "oauth2/access_token", "receiveRequestInfo",
        "oauth2/refresh_token", "receiveRequestInfo"]
    assert arrivals()[2].body["access_token"].startswith("••••")


def test_it_refuses_an_e10_push_without_a_valid_token(client, monkeypatch):
    for token in (None, "forged", e10_token(client)["refreshToken"]):
        r = post_json(client, E10_RECEIVE, e10_item(token))
        assert r.json()["message"]["errcode"] == "401" and r.json()["data"] is None
    token = e10_token(client)["accessToken"]
    monkeypatch.setattr("pushconfig.sandbox.e10.TOKEN_SECONDS", -1)  # it has expired
    assert post_json(client, E10_RECEIVE, e10_item(token)).json()["message"]["errcode"] == "401"


def test_it_refuses_malformed_e10_token_calls_and_items(client):
    bad = client.get(E10_OAUTH + "authorize", {"corpid": "c", "response_type": "token"}).json()
    assert bad["errcode"] == "400" and "code" not in bad
    bad = post_json(client, E10_OAUTH + "access_token", {
        "app_key": "k", "app_secret": "s", "grant_type": "authorization_code",
        "code": "made-up"}).json()
    assert bad["errcode"] == "401" and "accessToken" not in bad
    token = e10_token(client)["accessToken"]
    r = post_json(client, E10_RECEIVE, e10_item(token, isremark="3"))
    assert r.json()["message"]["errcode"] == "400" and "isremark" in r.json()["message"]["errmsg"]
    r = post_json(client, E10_RECEIVE, e10_item(token, receiver=""))
    assert "receiver" in r.json()["message"]["errmsg"]
    assert client.get(E10_OAUTH + "nothing").status_code == 404


def test_it_checks_the_e10_app_key_and_secret_when_the_behaviour_names_them(client):
    behave("e10", username="key-1", password="secret-1")
    assert e10_token(client, "key-1", "secret-1")["errcode"] == "0"
    refused = e10_token(client, "key-1", "wrong")
    assert refused["errcode"] == "401" and "accessToken" not in refused


def test_it_refuses_e10_pushes_in_its_own_shape_when_told(client):
    token = e10_token(client)["accessToken"]
    behave("e10", mode="refuse", message="接收人不存在")
    r = post_json(client, E10_RECEIVE, e10_item(token))
    assert r.json() == {"message": {"errcode": "200", "errmsg": "success"},
                        "data": {"operResult": "0", "message": "接收人不存在"}}
    assert e10_token(client)["errcode"] == "0"  # token calls are not pushes: unaffected
    assert str(E10.default_refusal)


# -- Landray ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("operation", "fields", "message"), [
    ("sendTodo", send_context(), None),
    ("setTodoDone", {"appName": "OA", "modelName": "oa.request", "modelId": "1001:lisi:",
                     "optType": "2", "targets": '{"LoginName":"lisi"}'}, None),
    ("deleteTodo", {"appName": "OA", "modelName": "oa.request", "modelId": "1001:lisi:",
                    "optType": "1"}, None),
    ("getTodoCount", {"target": '{"LoginName":"lisi"}', "types": "[1,2]"}, "0"),
    ("getTodo", {"targets": '{"LoginName":"lisi"}', "type": "1"}, "[]"),
])
def test_it_answers_landray_soap_calls_with_return_state_2(client, operation, fields, message):
    r = soap(client, envelope(operation, fields))
    assert (r.status_code, r["Content-Type"]) == (200, "text/xml; charset=utf-8")
    root = etree.fromstring(r.content)
    assert root.find(f"{{{SOAP_ENV}}}Body")[0].tag == f"{{{LANDRAY_NS}}}{operation}Response"
    assert soap_result(r) == (2, message or "")
    [arrival] = arrivals()
    assert (arrival.protocol, arrival.operation, arrival.accepted) == ("landray", operation, True)
    assert arrival.body["arg0"] == fields and arrival.body["header"]["user"] == "ekp-ws"
    assert arrival.body["header"]["password"].startswith("••••")
    assert "pw-1" not in arrival.body_text and "<arg0>" in arrival.body_text


@pytest.mark.parametrize(("operation", "fields", "named"), [
    ("sendTodo", send_context(subject=None), "subject"),
    ("sendTodo", send_context(type="3"), "type"),
    ("sendTodo", send_context(createTime="2026/11/20"), "createTime"),
    ("sendTodo", send_context(targets="lisi"), "targets"),
    ("sendTodo", send_context(targets='{"Login":"lisi"}'), "targets"),
    ("sendTodo", send_context(extendContent="{}"), "extendContent"),
    ("setTodoDone", {"modelName": "m", "modelId": "1", "optType": "2"}, "targets"),
    ("deleteTodo", {"modelName": "m", "modelId": "1", "optType": "9"}, "optType"),
])
def test_it_answers_return_state_1_for_what_ekp_refuses(client, operation, fields, named):
    r = soap(client, envelope(operation, fields))
    state, message = soap_result(r)
    assert (r.status_code, state) == (200, 1)
    assert named in message
    assert not arrivals()[0].accepted


def test_it_refuses_landray_todos_as_told_and_faults_wrong_credentials(client):
    behave("landray", mode="refuse")
    assert soap_result(soap(client, envelope("sendTodo", send_context())))[0] == 1
    behave("landray", mode="succeed", username="ekp-ws", password="pw-1")
    assert soap_result(soap(client, envelope("sendTodo", send_context())))[0] == 2
    for body in (envelope("sendTodo", send_context(), password="wrong"),
                 envelope("sendTodo", send_context(), user=None)):
        r = soap(client, body)
        assert r.status_code == 500
        assert soap_fault(r)[0] == "soap:Client"
    assert [a.status for a in arrivals()] == [200, 200, 500, 500]


@pytest.mark.parametrize(("body", "content_type", "code"), [
    (b"<not-xml", "text/xml", "soap:Client"),
    (b'<?xml version="1.0"?><x:Envelope xmlns:x="http://www.w3.org/2003/05/soap-envelope"/>',
     "text/xml", "soap:VersionMismatch"),
    (envelope("sendTodo", send_context()).replace(b"sendTodo", b"sendMail"), "text/xml",
     "soap:Client"),
    (envelope("sendTodo", send_context()).replace(b"<arg0>", b"<arg1>").replace(
        b"</arg0>", b"</arg1>"), "text/xml", "soap:Client"),
    (envelope("sendTodo", send_context()), "application/json", "soap:Client"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
     b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&e;'
     b"</soap:Body></soap:Envelope>", "text/xml", "soap:Client"),
], ids=["malformed", "soap-1.2", "unknown-operation", "no-arg0", "not-text-xml", "entity"])
def test_it_answers_a_soap_client_fault_to_what_is_not_a_call_of_the_service(
        client, body, content_type, code):
    r = soap(client, body, content_type)
    assert r.status_code == 500
    assert soap_fault(r)[0] == code
    assert b"root:" not in r.content


def test_it_never_stores_the_soap_password_even_of_a_refused_call(client):
    soap(client, envelope("sendMail", send_context(), password="pw-in-a-bad-call"))
    soap(client, envelope("sendTodo", send_context(), password="pw-in-broken-xml")[:-20])
    for arrival in arrivals():
        assert arrival.status == 500
        assert "pw-in-" not in arrival.body_text and "pw-in-" not in json.dumps(arrival.body)
        assert "••••" in arrival.body_text


def test_it_serves_the_shipped_wsdl_with_the_sandboxs_address(client):
    r = client.get(LANDRAY + "?wsdl")
    assert (r.status_code, r["Content-Type"]) == (200, "text/xml; charset=utf-8")
    root = etree.fromstring(r.content)
    address = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == "http://testserver" + LANDRAY
    assert not SandboxArrival.objects.exists()  # a WSDL fetch is not a push


# -- webhook ----------------------------------------------------------------------------------
def test_it_accepts_json_and_form_webhooks(client):
    r = post_json(client, "/sandbox/webhook/orders/created", {"type": "todo.todo", "data": {}})
    assert (r.status_code, r.json()) == (200, {"ok": True})
    r = client.post("/sandbox/webhook/console-a/create", "task=%7B%7D&dateTime=1",
                    content_type="application/x-www-form-urlencoded")
    assert (r.status_code, r.json()) == (200, {"ok": True})
    r = client.post("/sandbox/webhook/console-a/cc", {"task": "{}", "tag": ["a", "b"]})  # multipart
    assert (r.status_code, r.json()) == (200, {"ok": True})
    first, second, third = arrivals()
    assert (first.operation, first.summary, first.body["type"]) == (
        "orders/created", "type=todo.todo", "todo.todo")
    assert (second.operation, second.body) == ("console-a/create", {"task": "{}", "dateTime": "1"})
    assert third.body == {"task": "{}", "tag": ["a", "b"]}


def test_it_refuses_webhooks_that_are_not_json_or_a_form_or_when_told(client):
    assert client.post("/sandbox/webhook/x", "plain", content_type="text/plain").status_code == 415
    assert post_json(client, "/sandbox/webhook/x", "{broken").status_code == 400
    assert client.get("/sandbox/webhook/x").status_code == 405
    behave("webhook", mode="refuse", message="nope")
    r = post_json(client, "/sandbox/webhook/x", {"a": 1})
    assert (r.status_code, r.json()) == (400, {"ok": False, "message": "nope"})


def test_it_checks_webhook_signatures_when_the_behaviour_holds_a_secret(client):
    behave("webhook", password=WHSEC)
    body = json.dumps({"type": "todo.todo"}).encode()
    r = post_json(client, "/sandbox/webhook/x", body, **standard_headers(WHSEC, body))
    assert r.status_code == 200
    other = "whsec_" + base64.b64encode(b"another-key").decode()
    for headers in (standard_headers(other, body), {},
                    standard_headers(WHSEC, body, timestamp=str(int(time.time()) - 3600)),
                    standard_headers(WHSEC, body, timestamp="²"),  # int() refuses these
                    standard_headers(WHSEC, body, timestamp="9" * 5000)):
        assert post_json(client, "/sandbox/webhook/x", body, **headers).status_code == 401
    # Two signatures during a rotation: one matching is enough.
    both = standard_headers(WHSEC, body)
    both["webhook-signature"] = standard_headers(other, body, timestamp=both[
        "webhook-timestamp"])["webhook-signature"] + " " + both["webhook-signature"]
    assert post_json(client, "/sandbox/webhook/x", body, **both).status_code == 200

    behave("webhook", password="callback-token")
    params = {"appType": "APP", "corpId": "corp", "formInstId": "F1", "dateTime": "1"}
    signed = {**params, "sign": compute_sign(params, "callback-token")}
    assert client.post("/sandbox/webhook/c/delete", signed).status_code == 200
    assert client.post("/sandbox/webhook/c/delete", {**signed, "formInstId": "F2"}
                       ).status_code == 401


# -- the console's push types against the sandbox, over a live server --------------------------
def sandbox_config(live_server, path, push_type, params, identifier="sandbox"):
    return make_config(f"{live_server.url}/sandbox/{path}", identifier=identifier,
                       system_name="沙箱", push_type=push_type, params=params)


ECOLOGY_PARAMS = {"sysCode": "DEMO", "toViewRemark": False}


@pytest.mark.django_db(transaction=True)
def test_it_takes_events_end_to_end_through_the_ecology_transport(live_server, api):
    config = sandbox_config(live_server, "ecology", "ecology", ECOLOGY_PARAMS)
    post_events(api, todo_event(event_id="t1", occurred_at=T.format(1)),
                todo_event(event_id="d1", data_set="done", business_status="approve",
                           occurred_at=T.format(2)),
                todo_event(event_id="t2", receiver="wangwu", occurred_at=T.format(3)))
    deliver_all(config)
    assert list(PushRecord.objects.order_by("id").values_list("event_id", "outcome")) == [
        ("t1", "success"), ("d1", "success"), ("t2", "success")]
    got = arrivals()
    assert [(a.body["receiver"], a.body["isremark"], a.body["viewtype"]) for a in got] == [
        ("lisi", "0", "0"), ("lisi", "2", "1"), ("wangwu", "0", "0")]
    assert all(a.body["syscode"] == "DEMO" and a.body["flowid"] == "1001" for a in got)
    assert got[0].headers["Idempotency-Key"] == f"{config.pk}:t1"
    attempt = PushAttempt.objects.get(record__event_id="t1")
    assert json.loads(attempt.response)["operResult"] == "1" and attempt.http_status == 200


@pytest.mark.django_db(transaction=True)
def test_it_makes_the_ecology_transport_record_a_permanent_failure_when_refusing(
        live_server, api):
    behave("ecology", mode="refuse", message="接收人不存在")
    config = sandbox_config(live_server, "ecology", "ecology", ECOLOGY_PARAMS)
    post_events(api, todo_event(event_id="t1"))
    deliver_all(config)
    record = PushRecord.objects.get()
    assert (record.outcome, record.permanent, record.next_attempt_at) == ("failed", True, None)
    assert "接收人不存在" in record.reason
    assert record.attempts == 1 and len(arrivals()) == 1


@pytest.mark.django_db(transaction=True)
def test_it_makes_the_ecology_transport_wait_as_retry_after_says_in_error_mode(
        live_server, api):
    behave("ecology", mode="error", retry_after=600)
    config = sandbox_config(live_server, "ecology", "ecology", ECOLOGY_PARAMS)
    post_events(api, todo_event(event_id="t1"))
    before = timezone.now()
    deliver_all(config)
    record = PushRecord.objects.get()
    assert (record.outcome, record.permanent) == ("failed", False)
    assert record.next_attempt_at >= before + timedelta(seconds=590)  # not the 30 s backoff
    attempt = record.attempt_log.get()
    assert (attempt.http_status, attempt.outcome) == (503, "failed")


@pytest.mark.django_db(transaction=True)
def test_it_shows_retries_then_success_with_fail_first_n(live_server, api):
    behave("ecology", mode="fail_first_n", fail_first_n=2, retry_after=0)
    config = sandbox_config(live_server, "ecology", "ecology", ECOLOGY_PARAMS)
    post_events(api, todo_event(event_id="t1"))
    outcomes = []
    for _ in range(3):
        deliver_all(config)
        outcomes.append(PushRecord.objects.get().outcome)
        make_due(config)
    assert outcomes == ["failed", "failed", "success"]
    record = PushRecord.objects.get()
    assert record.attempts == 3
    assert [a.http_status for a in record.attempt_log.order_by("number")] == [503, 503, 200]
    assert [a.status for a in arrivals()] == [503, 503, 200]


@pytest.mark.django_db(transaction=True)
def test_it_takes_events_end_to_end_through_the_e10_transport(live_server, api):
    behave("e10", username="key-1", password="secret-1")
    params = {"sysCode": "DEMO", "corpId": "corp-1", "state": "abc", "app_key": "key-1",
              "app_secret": "secret-1"}
    config = sandbox_config(live_server, "e10", "e10", params)
    post_events(api, todo_event(event_id="t1", occurred_at=T.format(1)),
                todo_event(event_id="d1", data_set="done", business_status="approve",
                           occurred_at=T.format(2)))
    deliver_all(config)
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}
    assert [a.operation for a in arrivals()] == [
        "oauth2/authorize", "oauth2/access_token", "receiveRequestInfo", "receiveRequestInfo"]
    pushes = arrivals(operation="receiveRequestInfo")
    assert [p.body["isremark"] for p in pushes] == ["0", "2"]
    assert all(p.accepted and p.body["workflowcode"] == "wf-travel" for p in pushes)

    wrong = sandbox_config(live_server, "e10", "e10", {**params, "app_secret": "wrong"},
                           identifier="sandbox-wrong")
    disable(config)
    post_events(api, todo_event(event_id="t2", occurred_at=T.format(3)))
    deliver_all(wrong)
    record = PushRecord.objects.get(config=wrong)
    assert (record.outcome, record.permanent) == ("failed", True)


LANDRAY_PARAMS = {"appName": "OA", "username": "ekp-ws", "password": "pw-1",
                  "oaAddress": "http://oa.example.com", "ekpUserKey": "LoginName"}


@pytest.mark.django_db(transaction=True)
def test_it_takes_events_end_to_end_through_the_landray_transport(live_server, api):
    behave("landray", username="ekp-ws", password="pw-1")
    config = sandbox_config(live_server, "landray", "landray_soap", LANDRAY_PARAMS)
    post_events(api, todo_event(event_id="t1", occurred_at=T.format(1)),
                todo_event(event_id="d1", data_set="done", business_status="approve",
                           occurred_at=T.format(2)),
                todo_event(event_id="x1", request_id="1002", data_set="delete",
                           business_status="delete", occurred_at=T.format(3)))
    deliver_all(config)
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}
    got = arrivals()
    assert [a.operation for a in got] == ["sendTodo", "setTodoDone", "deleteTodo"]
    assert json.loads(got[0].body["arg0"]["targets"]) == {"LoginName": "lisi"}
    assert got[0].body["arg0"]["subject"] == "出差申请-张三"
    assert got[1].body["arg0"]["optType"] == "2"

    behave("landray", password="changed")  # the config's password no longer works
    post_events(api, todo_event(event_id="t2", request_id="1003", occurred_at=T.format(4)))
    deliver_all(config)
    record = PushRecord.objects.get(event_id="t2")
    assert (record.outcome, record.permanent) == ("failed", True)
    assert "Client" in record.reason


@pytest.mark.django_db(transaction=True)
def test_it_takes_events_end_to_end_through_the_webhook_transport(live_server, api):
    behave("webhook", password=WHSEC)
    standard = sandbox_config(live_server, "webhook/standard", "webhook",
                              {"signing": "standard", "secret": WHSEC})
    post_events(api, todo_event(event_id="t1"))
    deliver_all(standard)
    assert PushRecord.objects.get().outcome == "success"
    [arrival] = arrivals()
    assert (arrival.operation, arrival.body["type"]) == ("standard", "todo.todo")
    assert arrival.headers["Webhook-Id"] == f"{standard.pk}:t1"

    behave("webhook", password="callback-token")
    disable(standard)
    callback = sandbox_config(live_server, "webhook/console-a", "webhook",
                              {"signing": "callback", "token": "callback-token",
                               "appType": "APP", "corpId": "corp"}, identifier="callback")
    post_events(api, todo_event(event_id="t2", request_id="1002", occurred_at=T.format(8)),
                todo_event(event_id="d2", request_id="1002", data_set="done",
                           business_status="approve", occurred_at=T.format(9)))
    deliver_all(callback)
    assert set(PushRecord.objects.filter(config=callback).values_list("outcome", flat=True)) \
        == {"success"}
    assert [a.operation for a in arrivals()][1:] == ["console-a/create", "console-a/finish"]

    behave("webhook", password="another-token")  # the sandbox now expects another token
    post_events(api, todo_event(event_id="t3", request_id="1003"))
    deliver_all(callback)
    record = PushRecord.objects.get(event_id="t3")
    assert (record.outcome, record.permanent, record.attempt_log.get().http_status) == (
        "failed", True, 401)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("path", "push_type", "params", "operations"), [
    ("ecology", "ecology", ECOLOGY_PARAMS, ["deleteUserRequestInfoByJson"]),
    ("e10", "e10", {"sysCode": "DEMO", "corpId": "c", "app_key": "k", "app_secret": "s"},
     ["oauth2/authorize", "oauth2/access_token"]),
    ("landray", "landray_soap", LANDRAY_PARAMS, ["getTodoCount"]),
    ("webhook/ping", "webhook", {"signing": "standard", "secret": WHSEC}, ["ping"]),
], ids=["ecology", "e10", "landray", "webhook"])
def test_it_passes_each_push_types_connection_test(live_server, path, push_type, params,
                                                    operations):
    config = sandbox_config(live_server, path, push_type, params)
    result = delivery.transport_for(config).test_connection()
    assert result.ok, result.reason
    assert [a.operation for a in arrivals()] == operations


# -- admin ------------------------------------------------------------------------------------
def test_it_lists_arrivals_newest_first_searchable_and_filtered_in_the_admin(client, admin):
    ecology(client, "ReceiveRequestInfoByJson", ecology_item(requestname="费用报销-陈静"))
    post_json(client, "/sandbox/webhook/x", {"type": "todo.done"})
    client.force_login(admin)
    url = "/admin/pushconfig/sandboxarrival/"
    page = client.get(url).content.decode()
    assert page.index("type=todo.done") < page.index("费用报销-陈静")
    assert "费用报销-陈静" in client.get(url, {"q": "费用报销"}).content.decode()
    assert "费用报销-陈静" not in client.get(url, {"q": "请假"}).content.decode()
    filtered = client.get(url, {"protocol__exact": "webhook"}).content.decode()
    assert "type=todo.done" in filtered and "费用报销-陈静" not in filtered
    detail = client.get(f"{url}{arrivals()[0].pk}/change/")
    assert detail.status_code == 200 and "费用报销-陈静" in detail.content.decode()
    assert client.get(url + "add/").status_code == 403


def test_it_clears_all_arrivals_from_the_admin_without_a_selection(client, admin):
    for n in range(3):
        ecology(client, "ReceiveRequestInfoByJson", ecology_item(flowid=str(n)))
    client.force_login(admin)
    r = client.post("/admin/pushconfig/sandboxarrival/", {"action": "clear_all", "index": 0},
                    follow=True)
    assert r.status_code == 200
    assert not SandboxArrival.objects.exists()


def test_it_edits_one_behaviour_per_protocol_in_the_admin(client, admin):
    client.force_login(admin)
    page = client.get("/admin/pushconfig/sandboxbehaviour/").content.decode()
    assert SandboxBehaviour.objects.count() == 4
    assert "/sandbox/landray" in page
    behaviour = SandboxBehaviour.of("landray")
    SandboxBehaviour.objects.filter(pk=behaviour.pk).update(failed=5)
    url = f"/admin/pushconfig/sandboxbehaviour/{behaviour.pk}/change/"
    form = {"mode": "fail_first_n", "message": "", "status": 503, "retry_after": 30,
            "delay": 5, "fail_first_n": 3, "username": "ekp-ws", "password": "pw-1"}
    assert client.post(url, form).status_code == 302
    behaviour.refresh_from_db()
    assert (behaviour.mode, behaviour.failed, behaviour.password) == ("fail_first_n", 0, "pw-1")
    assert client.post(url, {**form, "password": ""}).status_code == 302
    behaviour.refresh_from_db()
    assert behaviour.password == "pw-1"  # blank keeps it
    assert "pw-1" not in client.get(url).content.decode()
    r = client.post(url, {**form, "delay": 31})
    assert r.status_code == 200 and SandboxBehaviour.of("landray").delay == 5
    client.post(url, {**form, "password": "", "forget_password": "on"})
    behaviour.refresh_from_db()
    assert behaviour.password == ""
    assert client.get("/admin/pushconfig/sandboxbehaviour/add/").status_code == 403


@pytest.mark.postgres_only  # concurrent writers: SQLite's shared-cache test database locks
@pytest.mark.django_db(transaction=True)
def test_it_fails_exactly_n_calls_when_they_come_at_once():
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    behaviour = behave("ecology", mode="fail_first_n", fail_first_n=3)

    def take(_n):
        try:
            return SandboxBehaviour.objects.get(pk=behaviour.pk).take_failure()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = list(pool.map(take, range(16)))
    assert taken.count(True) == 3
    assert SandboxBehaviour.of("ecology").failed == 3
