"""Deleting a config takes its push log along in chunks, without listing it."""
import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from pushconfig.models import PushAttempt, PushConfig, PushRecord
from pushconfig.models.log import delete_in_chunks
from tests.integration.helpers import todo_event

from .conftest import deliver_all, make_config

pytestmark = pytest.mark.django_db


def fill(api, config, n):
    events = [todo_event(receiver=f"u{i}") for i in range(n)]
    api.post("/api/v1/todo-events/", json.dumps(events), content_type="application/json")
    deliver_all(config)


def test_it_deletes_records_in_chunks_with_their_attempts(api, receiver):
    config = make_config(receiver.url)
    fill(api, config, 25)
    assert PushAttempt.objects.count() == 25
    assert delete_in_chunks(PushRecord.objects.all(), chunk=10) == 25
    assert not PushRecord.objects.exists() and not PushAttempt.objects.exists()


def test_it_summarises_the_push_log_on_the_admin_delete_page_and_deletes_it(api, client, admin,
                                                                           receiver):
    config = make_config(receiver.url)
    fill(api, config, 5)
    client.force_login(admin)
    url = reverse("admin:pushconfig_pushconfig_delete", args=[config.pk])
    page = client.get(url).content.decode()
    # Records are counted, not listed one by one (a short marker like "u0" can turn up
    # in the page's random CSRF token, so look for what a listed record would show).
    records = list(PushRecord.objects.all())
    assert len(records) == 5
    assert not [r for r in records if escape(str(r)) in page or r.event_id in page]
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not PushConfig.objects.exists() and not PushRecord.objects.exists()


def test_it_deletes_a_config_and_its_log_over_the_api(api, receiver):
    config = make_config(receiver.url)
    fill(api, config, 3)
    assert api.delete(f"/api/v1/push-configs/{config.pk}/").status_code == 204
    assert not PushRecord.objects.exists()
