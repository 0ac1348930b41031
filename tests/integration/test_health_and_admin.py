"""The health endpoint, and the admin pages of the source side."""
import json

import pytest
from django.urls import reverse

from integration.models import InboundEvent, TodoItem

from .helpers import todo_event, workflow_event

pytestmark = pytest.mark.django_db


def test_it_reports_database_and_broker_health(client):
    r = client.get("/api/v1/health/")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.services
def test_it_reports_a_redis_broker_healthy(client, settings, redis_url):
    settings.CELERY_BROKER_URL = redis_url
    assert client.get("/api/v1/health/").json()["broker"] == "ok"


def test_it_reports_an_unreachable_broker_with_503(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    r = client.get("/api/v1/health/")
    assert r.status_code == 503 and r.json()["broker"] == "unavailable"


@pytest.fixture
def populated(api):
    api.post("/api/v1/todo-events/", json.dumps([todo_event(receiver="ghost"), todo_event()]),
             content_type="application/json")
    api.post("/api/v1/workflow-events/", json.dumps(workflow_event()), content_type="application/json")


ADMIN_PAGES = ["subcompany", "department", "post", "person", "role", "group", "parttimeidentity",
               "workflowtype", "workflow", "request", "todoitem", "inboundevent"]


@pytest.mark.parametrize("model", ADMIN_PAGES)
def test_it_renders_each_admin_list_with_search_and_filters(client, admin, populated, model):
    client.force_login(admin)
    url = reverse(f"admin:integration_{model}_changelist")
    assert client.get(url).status_code == 200
    assert client.get(url, {"q": "1001"}).status_code == 200


def test_it_shows_todo_items_and_their_request_in_the_admin(client, admin, populated):
    client.force_login(admin)
    page = client.get(reverse("admin:integration_todoitem_changelist")).content.decode()
    assert "出差申请-张三" in page and "ghost" in page
    item = TodoItem.objects.first()
    assert client.get(reverse("admin:integration_todoitem_change", args=[item.pk])).status_code == 200
    request_page = client.get(reverse("admin:integration_request_change", args=[item.request.pk]))
    assert "同意" in request_page.content.decode()


def test_it_filters_inbound_events_by_flag_in_the_admin(client, admin, populated):
    client.force_login(admin)
    page = client.get(reverse("admin:integration_inboundevent_changelist"),
                      {"flag": "unknown_receiver"}).content.decode()
    assert InboundEvent.objects.filter(flagged=True).count() >= 1
    assert "ghost" in page


def test_it_keeps_the_audit_trail_read_only_in_the_admin(client, admin, populated):
    client.force_login(admin)
    event = InboundEvent.objects.first()
    r = client.post(reverse("admin:integration_inboundevent_delete", args=[event.pk]), {"post": "yes"})
    assert r.status_code == 403
    assert InboundEvent.objects.filter(pk=event.pk).exists()
    assert client.get(reverse("admin:integration_inboundevent_add")).status_code == 403


def test_it_speaks_chinese_by_default_and_english_on_request(client, admin):
    client.force_login(admin)
    url = reverse("admin:integration_todoitem_changelist")
    assert "待办" in client.get(url).content.decode()
    assert "todo items" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode().lower()
