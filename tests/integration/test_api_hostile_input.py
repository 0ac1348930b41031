"""Whatever a client sends, the answer is a clear 4xx, never a 500, and nothing is stored."""
import base64

import pytest

from integration.models import InboundEvent, Request

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/v1/todo-events/", "/api/v1/workflow-events/", "/api/v1/directory/persons/",
             "/api/v1/catalog/workflows/"]

BODIES = [
    b"{",
    b"\xff\xfe\x00garbage",
    b'{"event_id": NaN}',
    b"[" * 100000 + b"]" * 100000,
    b'"just a string"',
    b"[1, 2, 3]",
    b"[[]]",
    b'{"event_id": {"$gt": ""}}',
    b'{"data_set": "todo", "request_id": 1e400}',
    b"null",
    b"",
]


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_it_answers_4xx_to_hostile_json(api, url, body):
    r = api.post(url, body, content_type="application/json")
    assert 400 <= r.status_code < 500, (r.status_code, r.content[:200])
    assert r["Content-Type"].startswith("application/json")
    assert not InboundEvent.objects.exists() and not Request.objects.exists()


def test_it_answers_4xx_to_a_body_over_the_size_limit(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    r = api.post("/api/v1/todo-events/", b'{"event_id": "' + b"x" * 5000 + b'"}',
                 content_type="application/json")
    assert r.status_code in (400, 413)


def test_it_answers_4xx_to_an_unknown_content_type(api):
    r = api.post("/api/v1/todo-events/", b"<xml/>", content_type="application/xml")
    assert r.status_code == 415


def test_it_answers_404_in_json_shape_for_unknown_records(api):
    assert api.get("/api/v1/requests/nope/").status_code == 404
    assert api.get("/api/v1/directory/persons/nope/").status_code == 404
    assert api.get("/api/v1/requests/a%00b/").status_code == 404
    assert api.get("/api/v1/directory/persons/a%00b/").status_code == 404


@pytest.mark.parametrize("position", ["abc", "1.5", "²", "99999999999999999999", "-1"])
def test_it_answers_404_to_a_rewritten_cursor(api, position):
    cursor = base64.b64encode(f"p={position}".encode()).decode()
    for url in ["/api/v1/todo-items/", "/api/v1/requests/", "/api/v1/callback-logs/"]:
        r = api.get(url, {"cursor": cursor})
        assert r.status_code == 404 and "detail" in r.json(), (url, r.status_code)


def test_a_cursor_it_gave_still_pages(api):
    cursor = base64.b64encode(b"p=5").decode()
    assert api.get("/api/v1/requests/", {"cursor": cursor}).status_code == 200


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00"])
@pytest.mark.parametrize("url, name", [
    ("/api/v1/todo-events/", "received_after"), ("/api/v1/callback-logs/", "received_before"),
    ("/api/v1/requests/", "created_after"), ("/api/v1/requests/", "created_before"),
    ("/api/v1/push-logs/", "created_after"), ("/api/v1/flow-runs/", "created_after"),
    ("/api/v1/archive-logs/", "created_before"), ("/api/v1/push-tasks/", "since"),
])
def test_it_answers_400_to_a_moment_outside_the_years_the_database_compares(api, url, name,
                                                                            moment):
    r = api.get(url, {name: moment})
    assert r.status_code == 400 and name in r.json(), (r.status_code, r.content[:200])


def test_it_answers_400_to_too_many_parameters(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    r = api.get("/api/v1/requests/?" + "&".join(f"p{i}=1" for i in range(10)),
                HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 400 and r.json()["detail"].startswith("无法接受该请求")
