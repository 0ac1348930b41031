"""Whatever a client sends, the answer is a clear 4xx, never a 500, and nothing is stored."""
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
