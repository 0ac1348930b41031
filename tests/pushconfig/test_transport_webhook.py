"""The webhook push type, both formats, against receivers on 127.0.0.1 that verify what they
get: Standard Webhooks signatures recomputed here as the specification says, and the approval-
task callbacks checked by this very console's own hook (the round trip, over live_server)."""
import base64
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.utils import timezone

from integration.hooks.signature import compute_sign
from integration.models import CallbackLog, CallbackSource, InboundEvent, TodoItem
from pushconfig.delivery import open_records, transport_for
from pushconfig.items import build_items
from pushconfig.models import PushAttempt, PushRecord
from pushconfig.transports.webhook import WebhookTransport
from tests.integration.helpers import todo_event
from tests.receivers import Answer, Receiver

from .conftest import closed_port, deliver_all, make_config
from .conftest import post_events as post

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OLD_KEY = b"the-previous-key-of-24-bytes"
OLD_SECRET = "whsec_" + base64.b64encode(OLD_KEY).decode()
TOKEN = "PEER-SYSTEM-TOKEN-0123456789"
CALLBACK = {"signing": "callback", "token": TOKEN, "appType": "APP_OA", "corpId": "corp-1"}
STANDARD = {"signing": "standard", "secret": SECRET}
FORM = "application/x-www-form-urlencoded"
T = "2026-11-20T09:{:02d}:00+08:00"


@pytest.fixture
def target():
    server = Receiver(Answer(204, b""))
    yield server
    server.close()


@pytest.fixture
def peer_console(live_server):
    """This console, serving over HTTP. The pushes' keep-alive connections are closed at the
    end so that no server thread outlives the test database."""
    yield live_server
    from pushconfig.delivery import _sessions

    for _stamp, session in _sessions.values():
        session.close()


def webhook_config(url, **params):
    return make_config(url, push_type="webhook", params=params)


def header(got, name):
    return {k.lower(): v for k, v in got.headers.items()}[name.lower()]


def verify_standard(got, secret=SECRET, tolerance=300):
    """A Standard Webhooks receiver: the key is the base64 after whsec_; the signed content is
    "<webhook-id>.<webhook-timestamp>.<raw body>"; any of the space-separated v1 signatures
    may match; the timestamp must be recent."""
    msg_id, timestamp = header(got, "webhook-id"), header(got, "webhook-timestamp")
    assert abs(int(timestamp) - time.time()) < tolerance
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + got.body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for signature in header(got, "webhook-signature").split(" "):
        version, _comma, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def form(got):
    assert header(got, "Content-Type") == FORM
    return dict(parse_qsl(got.body.decode(), keep_blank_values=True, strict_parsing=True))


def unsigned(params):
    return {k: v for k, v in params.items() if k != "sign"}


# -- standard ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_it_sends_standard_webhooks_signed_as_the_specification_says(api, target):
    config = webhook_config(target.url, **STANDARD)
    post(api, todo_event(occurred_at=T.format(1)))
    post(api, todo_event(data_set="done", business_status="approve", occurred_at=T.format(2)))
    deliver_all(config)

    todo, done = target.requests
    records = list(PushRecord.objects.filter(config=config).order_by("id"))
    for got, rec in zip((todo, done), records, strict=True):
        assert verify_standard(got)
        assert header(got, "webhook-id") == rec.idempotency_key
        assert header(got, "webhook-signature").count("v1,") == 1
        assert header(got, "Content-Type") == "application/json"
        assert rec.outcome == "success"
    body = todo.json()
    assert body["type"] == "todo.todo" and done.json()["type"] == "todo.done"
    assert set(body) == {"type", "timestamp", "data"}
    assert abs(timezone.datetime.fromisoformat(body["timestamp"]) - timezone.now()).seconds < 60
    data = body["data"]
    assert (data["request_id"], data["receiver"], data["creator"]) == ("1001", "lisi", "zhangsan")
    assert (data["data_set"], data["business_status"]) == ("todo", "arrive")
    assert data["title"] == "出差申请-张三" and data["node_name"] == "部门经理审批"
    assert data["occurred_at"] == "2026-11-20T01:01:00+00:00"
    assert data["pc_url"].endswith("requestid=1001")
    assert not verify_standard(todo, secret="whsec_" + base64.b64encode(b"another").decode())


@pytest.mark.django_db
def test_it_sends_both_signatures_while_a_secret_is_rotated(api, target):
    config = webhook_config(target.url, **STANDARD, previous_secret=OLD_SECRET)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    (got,) = target.requests
    signatures = header(got, "webhook-signature").split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    # Receivers still holding the old secret and those holding the new one both verify.
    assert verify_standard(got, SECRET)
    assert verify_standard(got, OLD_SECRET)
    msg = f"{header(got, 'webhook-id')}.{header(got, 'webhook-timestamp')}.".encode() + got.body
    assert signatures[0] == "v1," + base64.b64encode(
        hmac.new(KEY, msg, hashlib.sha256).digest()).decode()


@pytest.mark.django_db
def test_it_keeps_the_webhook_id_when_it_retries(api):
    answers = iter([Answer(500, {"error": "boom"}), Answer(200, {"ok": True})])
    server = Receiver(lambda got: next(answers))
    try:
        config = webhook_config(server.url, **STANDARD)
        post(api, todo_event(occurred_at=T.format(1)))
        deliver_all(config)
        PushRecord.objects.filter(config=config).update(next_attempt_at=timezone.now())
        deliver_all(config)
        first, second = server.requests
        assert header(first, "webhook-id") == header(second, "webhook-id")
        assert verify_standard(first) and verify_standard(second)
        rec = PushRecord.objects.get(config=config)
        assert (rec.outcome, rec.attempts) == ("success", 2)
    finally:
        server.close()


def test_it_accepts_valid_secrets_and_a_rotation():
    params = WebhookTransport.Params(data={**STANDARD, "previous_secret": OLD_SECRET})
    assert params.is_valid(), params.errors
    assert WebhookTransport.Params(data=CALLBACK).is_valid()
    assert set(WebhookTransport.secret_params) == {"token", "secret", "previous_secret"}


@pytest.mark.parametrize("params, field", [
    ({"signing": "standard", "secret": base64.b64encode(KEY).decode()}, "secret"),
    ({"signing": "standard", "secret": "whsec_not base64!"}, "secret"),
    ({"signing": "standard", "secret": "whsec_"}, "secret"),
    ({"signing": "standard", "secret": SECRET, "previous_secret": "old-one"}, "previous_secret"),
    ({"signing": "standard"}, "secret"),
    ({"signing": "callback", "token": TOKEN, "corpId": "corp-1"}, "appType"),
    ({"signing": "callback", "appType": "APP_OA", "corpId": "corp-1"}, "token"),
    ({"signing": "sha1", "secret": SECRET}, "signing"),
])
def test_it_refuses_bad_parameters_naming_the_field(params, field):
    serializer = WebhookTransport.Params(data=params)
    assert not serializer.is_valid()
    assert list(serializer.errors) == [field]


# -- callback ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_it_sends_each_data_set_as_the_platforms_callback_action(api, target):
    config = webhook_config(target.url + "/hooks/tasks/peer", **CALLBACK)
    post(api, todo_event(occurred_at=T.format(1), task_id="TASK-9"),
         todo_event(receiver="wangwu", business_status="cc", occurred_at=T.format(1)))
    post(api, todo_event(data_set="done", business_status="approve", occurred_at=T.format(2),
                         task_id="TASK-9"))
    post(api, todo_event(receiver="wangwu", data_set="delete", business_status="cancel",
                         occurred_at=T.format(3)))
    post(api, todo_event(data_set="delete", business_status="delete", occurred_at=T.format(4)))
    deliver_all(config)

    by_action = {}
    for got in target.requests:
        path = urlsplit(got.path).path
        assert path.startswith("/hooks/tasks/peer/")
        params = form(got)
        assert params["sign"] == compute_sign(unsigned(params), TOKEN)
        by_action.setdefault(path.rsplit("/", 1)[1], []).append(params)
    assert sorted(by_action) == ["cancel", "cc", "create", "delete", "finish"]

    (create,) = by_action["create"]
    assert set(create) == {"task", "dateTime", "sign"}
    assert create["dateTime"] == str(int(timezone.datetime.fromisoformat(T.format(1))
                                         .timestamp() * 1000))
    task = json.loads(create["task"])
    assert task["formInstanceId"] == "1001"
    assert task["title"] == "出差申请-张三"
    assert (task["originatorId"], task["actionerId"]) == ("zhangsan", "lisi")
    assert task["processCode"] == "wf-travel"
    assert task["taskId"] == "TASK-9"
    assert task["createTime"] == int(timezone.datetime.fromisoformat(
        "2026-11-20T09:00:00+08:00").timestamp() * 1000)
    (cc,) = by_action["cc"]
    assert json.loads(cc["task"])["actionerId"] == "wangwu"
    assert json.loads(cc["task"])["taskId"] == "1001-wangwu"  # no OA task id: a stable one
    (finish,) = by_action["finish"]
    assert unsigned(finish) == {"appType": "APP_OA", "corpId": "corp-1", "taskId": "TASK-9",
                                "actualWorkId": "lisi", "formInstId": "1001",
                                "dateTime": finish["dateTime"]}
    (cancel,) = by_action["cancel"]
    assert (cancel["taskId"], cancel["actualWorkId"]) == ("1001-wangwu", "wangwu")
    (delete,) = by_action["delete"]
    assert set(unsigned(delete)) == {"appType", "corpId", "formInstId", "dateTime"}
    assert delete["formInstId"] == "1001"
    assert all(p["dateTime"].isdigit() for ps in by_action.values() for p in ps)
    assert set(PushRecord.objects.filter(config=config).values_list("outcome", flat=True)) == {
        "success"}


@pytest.mark.django_db(transaction=True)
def test_it_feeds_this_consoles_own_callback_hook_the_round_trip(api, peer_console):
    """A webhook config pointed at this console's /hooks/tasks/peer: the console's own hook
    checks the MD5 sign and the parameters, and turns them back into the same todo."""
    peer = CallbackSource.objects.create(name="上游控制台", slug="peer", system_token=TOKEN,
                                         app_type="APP_OA", corp_id="corp-1", enabled=True)
    config = webhook_config(peer_console.url + "/hooks/tasks/peer", **CALLBACK)
    post(api, todo_event(event_id="rt-1", occurred_at=T.format(1), task_id="TASK-77"))
    deliver_all(config)

    log = CallbackLog.objects.get(source=peer, action="create")
    assert log.request_id == "1001"
    (event,) = InboundEvent.objects.filter(source="callback:peer")
    assert event.event_id in log.event_ids
    assert (event.payload["receiver"], event.payload["request_id"]) == ("lisi", "1001")
    assert event.payload["request_title"] == "出差申请-张三"
    assert event.payload["workflow_id"] == "wf-travel"
    assert event.payload["node_name"] == "部门经理审批"
    assert event.payload["task_id"] == "TASK-77"
    first = PushRecord.objects.get(config=config, event_id="rt-1")
    assert first.outcome == "success"
    assert PushAttempt.objects.get(record=first).http_status == 200

    # Done travels back as finish and closes the todo the create made.
    post(api, todo_event(event_id="rt-2", data_set="done", business_status="approve",
                         occurred_at=T.format(2), task_id="TASK-77"))
    deliver_all(config)
    assert CallbackLog.objects.filter(source=peer, action="finish", request_id="1001").exists()
    item = TodoItem.objects.get(request__request_id="1001", receiver="lisi")
    assert item.data_set == "done"
    # The hook's own events are pushed back once and recognised there as duplicates: the loop
    # ends instead of growing.
    assert not open_records(config.pk).exists()
    assert InboundEvent.objects.filter(source="callback:peer").count() == 2
    assert set(PushRecord.objects.filter(config=config).values_list("outcome", flat=True)) == {
        "success"}

    # The connection test's delete names a form instance nobody holds: accepted, nothing made.
    result = transport_for(config).test_connection()
    assert result.ok, (result.reason, result.response)
    answer = json.loads(result.response)
    assert (answer["success"], answer["outcomes"]) == (True, [])
    assert CallbackLog.objects.get(source=peer, action="delete").request_id == "connection-test"
    assert InboundEvent.objects.filter(source="callback:peer").count() == 2


@pytest.mark.django_db(transaction=True)
def test_it_is_refused_by_the_hook_when_the_token_differs(api, peer_console):
    CallbackSource.objects.create(name="上游控制台", slug="peer", system_token="OTHER-TOKEN",
                                  enabled=True)
    config = webhook_config(peer_console.url + "/hooks/tasks/peer", **CALLBACK)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    rec = PushRecord.objects.get(config=config)
    assert (rec.outcome, rec.permanent) == ("failed", True)
    attempt = PushAttempt.objects.get(record=rec)
    assert attempt.http_status == 403 and "sign" in attempt.response
    assert not InboundEvent.objects.filter(source="callback:peer").exists()


# -- failures, each in its class, and secrets ----------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("params", [STANDARD, CALLBACK], ids=["standard", "callback"])
def test_it_treats_a_503_as_transient_and_honours_retry_after(api, params):
    server = Receiver(Answer(503, {"error": "maintenance"}, {"Retry-After": "7"}))
    try:
        config = webhook_config(server.url, **params)
        post(api, todo_event(occurred_at=T.format(1)))
        items, _refused = build_items(config, list(open_records(config.pk)))
        (delivery,) = transport_for(config).send(items)
        assert (delivery.ok, delivery.permanent, delivery.http_status) == (False, False, 503)
        assert delivery.retry_after == 7.0
        deliver_all(config)
        rec = PushRecord.objects.get(config=config)
        assert (rec.outcome, rec.permanent) == ("failed", False)
        assert rec.next_attempt_at is not None
    finally:
        server.close()


@pytest.mark.django_db
@pytest.mark.parametrize("answer, permanent", [
    (Answer(429, {}, {"Retry-After": "3"}), False),
    (Answer(408, {}), False),
    (Answer(400, {"errors": {"task": "bad"}}), True),
    (Answer(404, {}), True),
    (Answer(302, b"", {"Location": "https://elsewhere.example/"}), True),
], ids=["429", "408", "400", "404", "302"])
def test_it_classes_each_http_answer(api, answer, permanent):
    server = Receiver(answer)
    try:
        config = webhook_config(server.url, **STANDARD)
        post(api, todo_event(occurred_at=T.format(1)))
        deliver_all(config)
        rec = PushRecord.objects.get(config=config)
        assert (rec.outcome, rec.permanent) == ("failed", permanent)
        assert len(server.requests) == 1  # a redirect is not followed
    finally:
        server.close()


@pytest.mark.django_db
def test_it_treats_a_closed_port_as_transient(api):
    config = webhook_config(f"http://127.0.0.1:{closed_port()}", **STANDARD)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    rec = PushRecord.objects.get(config=config)
    assert (rec.outcome, rec.permanent) == ("failed", False)
    assert rec.next_attempt_at is not None


@pytest.mark.django_db
def test_it_fails_permanently_without_a_call_when_the_stored_secret_is_unusable(api, target):
    config = webhook_config(target.url, signing="standard", secret="not-a-whsec-secret")
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    rec = PushRecord.objects.get(config=config)
    assert (rec.outcome, rec.permanent) == ("failed", True)
    assert "whsec_" in rec.reason
    assert target.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize("params, secrets", [
    ({**STANDARD, "previous_secret": OLD_SECRET}, (SECRET, OLD_SECRET)),
    (CALLBACK, (TOKEN,)),
], ids=["standard", "callback"])
def test_it_never_logs_secrets_or_signatures(api, target, params, secrets):
    config = webhook_config(target.url, **params)
    post(api, todo_event(occurred_at=T.format(1)))
    deliver_all(config)
    attempt = PushAttempt.objects.get(record__config=config)
    assert attempt.outcome == "success"
    logged = json.dumps(attempt.request, ensure_ascii=False) + attempt.response
    for secret in secrets:
        assert secret not in logged
        assert secret not in json.dumps(config.params)  # encrypted at rest
    (got,) = target.requests
    if params["signing"] == "standard":
        assert attempt.request["type"] == "todo.todo"
        assert header(got, "webhook-signature").split(" ")[0][3:] not in logged
    else:
        assert attempt.request["action"] == "create"
        assert form(got)["sign"] not in logged


@pytest.mark.django_db
def test_it_pings_in_the_standard_connection_test(target):
    config = webhook_config(target.url, **STANDARD)
    result = transport_for(config).test_connection()
    assert result.ok, result.reason
    (got,) = target.requests
    assert got.json()["type"] == "ping"
    assert verify_standard(got)


@pytest.mark.django_db
def test_it_sends_a_harmless_signed_delete_in_the_callback_connection_test(target):
    config = webhook_config(target.url + "/hooks/tasks/peer", **CALLBACK)
    result = transport_for(config).test_connection()
    assert result.ok, result.reason
    (got,) = target.requests
    assert urlsplit(got.path).path == "/hooks/tasks/peer/delete"
    params = form(got)
    assert params["formInstId"] == "connection-test"
    assert params["sign"] == compute_sign(unsigned(params), TOKEN)
