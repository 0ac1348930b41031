"""Every refused callback: a JSON 4xx naming the field, nothing stored, a WARNING logged
without the token or the sign. Hostile bodies included: never a 500."""
import json
import logging
import random

import pytest

from integration.models import CallbackSource

from .test_callbacks_support import (
    FORM, JSON, TOKEN, delete_params, post, post_raw, signed, source, stored_counts,
    task_params, work_params,
)

pytestmark = pytest.mark.django_db
__all__ = ["source"]  # the fixture, imported to be used by name


def refused(r, status, field):
    assert r.status_code == status, (r.status_code, r.content[:300])
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["success"] is False
    assert field in body["errors"], body
    assert all(isinstance(m, str) and m for m in body["errors"][field])
    assert stored_counts() == (0, 0, 0, 0)
    return body


def test_it_refuses_a_wrong_sign_and_logs_a_warning_without_secrets(client, source, caplog):
    params = signed(task_params())
    params["sign"] = params["sign"][::-1]
    with caplog.at_level(logging.WARNING, logger="integration.hooks"):
        r = post(client, "create", params, sign=False)
    refused(r, 403, "sign")
    warnings = [rec for rec in caplog.records if rec.name == "integration.hooks"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    text = warnings[0].getMessage()
    assert "sign" in text and "yida" in text
    assert TOKEN not in caplog.text and params["sign"] not in caplog.text
    assert "访客" not in caplog.text  # no parameter values either


def test_it_refuses_a_sign_made_with_another_token(client, source):
    refused(post(client, "create", task_params(), token="not-the-token"), 403, "sign")


def test_it_refuses_a_callback_without_sign(client, source):
    refused(post(client, "create", task_params(), sign=False), 400, "sign")
    refused(post(client, "create", {**task_params(), "sign": ""}, sign=False), 400, "sign")


def test_it_refuses_a_sign_over_other_parameters(client, source):
    params = signed(task_params())
    params["dateTime"] = str(int(params["dateTime"]) + 1)
    refused(post(client, "finish", params, sign=False), 403, "sign")


def test_it_refuses_a_disabled_source(client, source):
    source.enabled = False
    source.save()
    body = refused(post(client, "create", task_params()), 403, "source")
    assert "yida" in body["errors"]["source"][0]  # names the source, in the caller's language


def test_it_refuses_an_unknown_source(client, source):
    refused(post(client, "create", task_params(), slug="nobody"), 404, "source")


@pytest.mark.parametrize("action", ["update", "CREATE", "create.json", "x" * 300])
def test_it_refuses_an_unknown_action(client, source, action):
    refused(post(client, action, task_params()), 404, "action")


def test_it_refuses_other_methods_than_post(client, source):
    r = client.get("/hooks/tasks/yida/create")
    assert r.status_code == 405 and r["Allow"] == "POST"
    assert stored_counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("content_type", [FORM, JSON], ids=["form", "json"])
@pytest.mark.parametrize("action,params,field", [
    ("create", {"dateTime": "1763600001000"}, "task"),
    ("create", {"task": "{}"}, "dateTime"),
    ("finish", {k: v for k, v in work_params().items() if k != "taskId"}, "taskId"),
    ("finish", {**work_params(), "actualWorkId": ""}, "actualWorkId"),
    ("cancel", {k: v for k, v in work_params().items() if k != "formInstId"}, "formInstId"),
    ("delete", {k: v for k, v in delete_params().items() if k != "corpId"}, "corpId"),
    ("delete", {k: v for k, v in delete_params().items() if k != "appType"}, "appType"),
], ids=["create-task", "create-dateTime", "finish-taskId", "finish-actualWorkId",
        "cancel-formInstId", "delete-corpId", "delete-appType"])
def test_it_refuses_a_missing_required_parameter(client, source, content_type, action, params,
                                                 field):
    refused(post(client, action, params, content_type), 400, field)


@pytest.mark.parametrize("task_value,content_type", [
    ({"actionerId": "lisi"}, JSON),     # an object, not a string holding one
    (["not", "an", "object"], JSON),
    (12345, JSON),                      # a number: text "12345", valid JSON, not an object
    (None, JSON),
    ("{not json", FORM),
    ('{"a": 1', JSON),
    ("[1, 2]", FORM),
    ('"just text"', FORM),
    ("null", JSON),
    ('{"title": NaN}', FORM),
    ("[" * 5000 + "]" * 5000, FORM),
    ('{"title": "a\\u0000b"}', FORM),    # JSON escape of NUL inside the task
    ('{"title": "\\ud800"}', FORM),      # lone surrogate inside the task
    ('{"a": ' * 100 + "1" + "}" * 100, JSON),
], ids=["object", "array", "number", "null", "broken", "unclosed", "json-array", "json-string",
        "json-null", "nan", "deep-array", "nul-escape", "surrogate-escape", "deep-object"])
def test_it_refuses_a_malformed_task(client, source, task_value, content_type):
    params = {"task": task_value, "dateTime": "1763600001000"}
    if isinstance(task_value, str | int) and not isinstance(task_value, bool):
        sign = signed({"task": str(task_value), "dateTime": "1763600001000"})["sign"]
        params["sign"] = sign
    else:
        params["sign"] = "0" * 32
    r = post_raw(client, "create", json.dumps(params) if content_type == JSON
                 else "&".join(f"{k}={_q(v)}" for k, v in params.items()), content_type)
    refused(r, 400, "task")


def _q(value):
    from urllib.parse import quote

    return quote(str(value), safe="")


@pytest.mark.parametrize("overrides,field", [
    ({"title": "长" * 501}, "task.title"),
    ({"title": None}, "task.title"),
    ({"title": {"zh": "x"}}, "task.title"),
    ({"processCode": None}, "task.processCode"),
    ({"originatorId": ""}, "task.originatorId"),
    ({"formInstanceId": None}, "task.formInstanceId"),
    ({"formInstanceId": "F" * 65}, "task.formInstanceId"),
    ({"actionerId": {"id": "lisi"}}, "task.actionerId"),
    ({"actionerId": ["lisi", None]}, "task.actionerId"),
    ({"actionerId": True}, "task.actionerId"),
    ({"createTime": "yesterday"}, "task.createTime"),
    ({"createTime": 1693462062}, "task.createTime"),   # seconds, not milliseconds
    ({"taskId": "T" * 65}, "task.taskId"),
], ids=["long-title", "no-title", "object-title", "no-processCode", "no-originator",
        "no-instance", "long-instance", "object-actioner", "null-in-actioners", "bool-actioner",
        "bad-createTime", "createTime-seconds", "long-taskId"])
def test_it_refuses_a_task_with_a_bad_field_naming_it(client, source, overrides, field):
    refused(post(client, "create", task_params(**overrides), JSON), 400, field)


@pytest.mark.parametrize("value", ["abc", "", "1763600001", "17636000010000000",
                                   "-1763600001000", "1763600001000.5", "2026-11-20T09:00:00",
                                   "１７６３６００００１０００"])
def test_it_refuses_a_bad_date_time(client, source, value):
    refused(post(client, "finish", {**work_params(), "dateTime": value}), 400, "dateTime")


def test_it_refuses_a_date_time_sent_as_a_json_boolean_or_float(client, source):
    for value in (True, 1763600001000.0):
        params = {**work_params(), "dateTime": value, "sign": "0" * 32}
        refused(post_raw(client, "finish", json.dumps(params), JSON), 400, "dateTime")


@pytest.mark.parametrize("action,params,field", [
    ("create", task_params(appType="APP_OTHER"), "task.appType"),
    ("create", {**task_params(), "appType": "APP_OTHER"}, "appType"),
    ("create", task_params(corpId="ding-other"), "task.corpId"),
    ("create", task_params(originatorCorpId="ding-other"), "task.originatorCorpId"),
    ("create", task_params(appType=None), "appType"),
    ("finish", {**work_params(), "appType": "APP_OTHER"}, "appType"),
    ("cancel", {**work_params(), "corpId": "ding-other"}, "corpId"),
    ("delete", {**delete_params(), "appType": "app_ry60ocrf33z7534"}, "appType"),
], ids=["task-app", "param-app", "task-corp", "originator-corp", "no-app", "finish-app",
        "cancel-corp", "delete-app-case"])
def test_it_refuses_another_app_or_corp_than_the_source_accepts(client, source, action, params,
                                                                field):
    source.app_type, source.corp_id = "APP_RY60OCRF33Z7534", "ding5d17e3add038d44535c2f4657eb6378f"
    source.save()
    refused(post(client, action, params), 400, field)


def test_it_refuses_keys_that_differ_only_in_case_naming_them(client, source):
    params = {**work_params(), "TASKID": "TASK-2"}
    body = refused(post(client, "finish", params), 400, "taskId")
    assert "TASKID" in body["errors"]
    assert "TASKID" in body["errors"]["taskId"][0]


def test_it_refuses_a_repeated_key(client, source):
    body = "&".join(f"{k}={_q(v)}" for k, v in signed(work_params()).items()) + "&taskId=T2"
    refused(post_raw(client, "finish", body), 400, "body")
    as_json = '{"taskId": "a", "taskId": "b", "sign": "x"}'
    refused(post_raw(client, "finish", as_json, JSON), 400, "body")


# --- hostile bodies ----------------------------------------------------------------------

@pytest.mark.parametrize("body,content_type,status", [
    (b"task=%ff%fe&dateTime=1&sign=x", FORM, 400),             # percent-encoded non-UTF-8
    (b"task=\xff\xfe&dateTime=1&sign=x", FORM, 400),           # raw non-UTF-8 bytes
    (b'{"task": "\xff", "sign": "x"}', JSON, 400),
    (b"\xef\xbb\xbf\x00\x00garbage", JSON, 400),
    (b"[1, 2, 3]", JSON, 400),                                 # a JSON array body
    (b'[{"task": "{}", "dateTime": "1", "sign": "x"}]', JSON, 400),
    (b'"text"', JSON, 400),
    (b"null", JSON, 400),
    (b"", JSON, 400),
    (b"{", JSON, 400),
    (b"[" * 200000 + b"]" * 200000, JSON, 400),
    (b'{"dateTime": 1e400, "sign": "x"}', JSON, 400),
    (b'{"dateTime": 1' + b"0" * 5000 + b', "sign": "x"}', JSON, 400),
    (b'{"task": {"nested": {"object": 1}}, "sign": "x"}', JSON, 400),
    (b'{"task": ["a"], "sign": "x"}', JSON, 400),
    (b'{"sign": null}', JSON, 400),
    (b'{"task": "a\\u0000b", "sign": "x"}', JSON, 400),        # NUL in a value
    (b'{"ta\\u0000sk": "a", "sign": "x"}', JSON, 400),         # NUL in a key
    (b'{"task": "\\udc00", "sign": "x"}', JSON, 400),          # lone surrogate
    (b"task=a%00b&dateTime=1&sign=x", FORM, 400),              # NUL in a form value
    (b"ta%00sk=a&dateTime=1&sign=x", FORM, 400),
    (b"=orphan&sign=x", FORM, 400),                            # an empty parameter name
    (b"&".join(b"k%d=v" % i for i in range(60)), FORM, 400),   # too many parameters
    (b"<xml/>", "application/xml", 415),
    (b"task=x", "text/plain", 415),
    (b"task=x", "application/x-www-form-urlencoded; charset=gbk", 415),
    (b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nx\r\n--b--\r\n",
     "multipart/form-data; boundary=b", 400),
    (b"garbage", "multipart/form-data", 400),
])
def test_it_answers_4xx_to_a_hostile_body(client, source, body, content_type, status):
    r = post_raw(client, "create", body, content_type)
    assert r.status_code == status, (r.status_code, r.content[:300])
    assert r.json()["success"] is False
    assert stored_counts() == (0, 0, 0, 0)


def test_it_refuses_a_one_megabyte_value_as_too_large(client, source):
    params = {**task_params(), "padding": "x" * (1024 * 1024)}
    r = post(client, "create", params)
    assert r.status_code == 413
    assert r.json()["errors"]["body"]
    assert stored_counts() == (0, 0, 0, 0)


def test_it_refuses_a_large_title_under_the_body_limit_naming_the_field(client, source):
    refused(post(client, "create", task_params(title="标" * 100_000), JSON), 400, "task.title")


def test_it_refuses_a_body_over_a_smaller_configured_limit(client, source, settings):
    settings.TASK_CALLBACK_MAX_BODY_BYTES = 2000
    assert post(client, "create", task_params(title="x" * 3000)).status_code == 413
    assert post(client, "create", task_params()).status_code == 200


def test_it_refuses_a_content_length_that_is_not_a_number(client, source):
    r = post_raw(client, "create", b"task=x", FORM, CONTENT_LENGTH="abc")
    assert 400 <= r.status_code < 500
    assert stored_counts() == (0, 0, 0, 0)


def test_it_answers_4xx_to_random_bytes(client, source):
    rng = random.Random(20261121)
    for _ in range(200):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        for content_type in (FORM, JSON, "multipart/form-data; boundary=x"):
            for action in ("create", "finish", "delete"):
                r = post_raw(client, action, body, content_type)
                assert 400 <= r.status_code < 500, (body, content_type, r.status_code)
    assert stored_counts() == (0, 0, 0, 0)


def test_it_stores_nothing_when_a_later_check_fails_after_reading_the_items(client, source):
    # finish reads the held items before its events are validated; a bad one still stores nothing
    CallbackSource.objects.filter(pk=source.pk).update(app_type="APP_RY60OCRF33Z7534")
    refused(post(client, "finish", {**work_params(), "taskId": "T" * 65}), 400, "taskId")
