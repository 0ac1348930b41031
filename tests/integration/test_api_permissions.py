"""Only users holding the model permissions read or write through the API."""
import json

import pytest

from integration.models import InboundEvent
from rest_framework.test import APIClient

from .helpers import todo_event

pytestmark = pytest.mark.django_db


def test_it_refuses_anonymous_callers():
    client = APIClient()
    assert client.get("/api/v1/todo-events/").status_code == 401
    r = client.post("/api/v1/todo-events/", json.dumps(todo_event()), content_type="application/json")
    assert r.status_code == 401
    assert not InboundEvent.objects.exists()


def test_it_refuses_a_logged_in_user_without_permissions(outsider_api):
    for url in ["/api/v1/todo-events/", "/api/v1/todo-items/", "/api/v1/requests/",
                "/api/v1/directory/persons/", "/api/v1/catalog/workflows/"]:
        assert outsider_api.get(url).status_code == 403, url
    r = outsider_api.post("/api/v1/todo-events/", json.dumps(todo_event()),
                          content_type="application/json")
    assert r.status_code == 403


def test_it_lets_an_ingest_only_account_post_events_but_not_read_them(operator_api):
    client = operator_api("integration.add_inboundevent")
    r = client.post("/api/v1/todo-events/", json.dumps(todo_event()), content_type="application/json")
    assert r.status_code == 201
    assert client.get("/api/v1/todo-events/").status_code == 403


def test_it_needs_both_add_and_change_to_upsert_the_directory(operator_api):
    body = json.dumps({"external_id": "p1", "login_id": "a", "name": "A"})
    client = operator_api("integration.add_person")
    assert client.post("/api/v1/directory/persons/", body, content_type="application/json").status_code == 403
    client = operator_api("integration.add_person", "integration.change_person")
    assert client.post("/api/v1/directory/persons/", body, content_type="application/json").status_code == 200


def test_it_accepts_session_auth_for_the_admin_user(client, admin):
    client.force_login(admin)
    assert client.get("/api/v1/todo-items/").status_code == 200


def test_it_publishes_the_openapi_schema_and_docs(client):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    paths = json.loads(r.content)["paths"]
    for path in ["/api/v1/todo-events/", "/api/v1/workflow-events/", "/api/v1/directory/persons/",
                 "/api/v1/catalog/workflows/", "/api/v1/todo-items/", "/api/v1/requests/"]:
        assert any(p.rstrip("/") == path.rstrip("/") or p.startswith(path.rstrip("/")) for p in paths), path
    assert client.get("/api/docs/").status_code == 200
