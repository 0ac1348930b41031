"""/api/v1/callback-sources/ (token write-only, masked on read) and /api/v1/callback-logs/."""
import json

import pytest
from django.db import connection

from integration.models import CallbackLog, CallbackSource
from integration.secrets import MASK

from .test_callbacks_support import TOKEN, post, source, task_params, work_params

pytestmark = pytest.mark.django_db
__all__ = ["source"]  # the fixture, imported to be used by name

URL = "/api/v1/callback-sources/"


def send(api, method, url, body):
    return getattr(api, method)(url, json.dumps(body), content_type="application/json")


def raw_token_column(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT system_token FROM integration_callbacksource WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_it_creates_a_source_and_never_returns_the_token(api):
    r = send(api, "post", URL, {"name": "宜搭", "slug": "yida", "system_token": TOKEN,
                                "enabled": True, "app_type": "APP_1"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert "system_token" not in body
    assert body["system_token_masked"] == MASK + TOKEN[-4:]
    assert body["callback_urls"]["create"] == "http://testserver/hooks/tasks/yida/create"
    assert set(body["callback_urls"]) == {"create", "finish", "cancel", "delete", "cc"}
    created = CallbackSource.objects.get(slug="yida")
    assert created.system_token == TOKEN
    stored = raw_token_column(created.pk)
    assert stored.startswith("fernet:") and TOKEN not in stored
    listed = api.get(URL).content.decode()
    assert TOKEN not in listed and "system_token_masked" in listed


def test_it_requires_a_token_without_spaces_on_create(api):
    for token in (None, "", "   ", "two words"):
        body = {"name": "x", "slug": "x"}
        if token is not None:
            body["system_token"] = token
        r = send(api, "post", URL, body)
        assert r.status_code == 400 and "system_token" in r.json(), (token, r.content)
    assert not CallbackSource.objects.exists()


def test_it_keeps_the_token_on_update_unless_a_new_one_is_sent(api, source):
    url = f"{URL}{source.pk}/"
    assert send(api, "patch", url, {"enabled": False}).status_code == 200
    assert send(api, "patch", url, {"system_token": ""}).status_code == 200
    r = send(api, "put", url, {"name": "新名", "slug": "yida"})
    assert r.status_code == 200, r.content
    source.refresh_from_db()
    assert (source.name, source.enabled, source.system_token) == ("新名", False, TOKEN)
    r = send(api, "patch", url, {"system_token": "short"})
    assert r.json()["system_token_masked"] == MASK  # short tokens show nothing of themselves
    source.refresh_from_db()
    assert source.system_token == "short"


def test_it_answers_409_when_deleting_a_source_that_has_logs(api, client, source):
    post(client, "create", task_params())
    r = api.delete(f"{URL}{source.pk}/")
    assert r.status_code == 409 and r.json()["detail"]
    empty = CallbackSource.objects.create(name="e", slug="e", system_token="t")
    assert api.delete(f"{URL}{empty.pk}/").status_code == 204


def test_it_refuses_callers_without_permissions(outsider_api, source):
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code == 401
    assert outsider_api.get(URL).status_code == 403
    assert outsider_api.get("/api/v1/callback-logs/").status_code == 403
    r = send(outsider_api, "post", URL, {"name": "x", "slug": "x", "system_token": "t"})
    assert r.status_code == 403


def test_it_lists_callback_logs_filtered_by_source_action_and_request(api, client, source):
    post(client, "create", task_params())
    post(client, "finish", work_params())
    rows = api.get("/api/v1/callback-logs/").json()["results"]
    assert [r["action"] for r in rows] == ["finish", "create"]
    assert rows[1]["source"] == "yida" and rows[1]["event_ids"]
    assert rows[1]["params"]["task"] == task_params()["task"]
    only = api.get("/api/v1/callback-logs/", {"action": "finish"}).json()["results"]
    assert [r["action"] for r in only] == ["finish"]
    assert api.get("/api/v1/callback-logs/", {"source": "nope"}).json()["results"] == []
    by_request = api.get("/api/v1/callback-logs/", {"request_id": "FINST-1001"}).json()
    assert len(by_request["results"]) == 2
    assert CallbackLog.objects.count() == 2


def test_it_documents_the_callback_endpoints_in_the_schema(client):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = json.loads(r.content)["paths"]
    assert any(p.startswith("/api/v1/callback-sources") for p in paths)
    assert any(p.endswith("/replay/") for p in paths)
