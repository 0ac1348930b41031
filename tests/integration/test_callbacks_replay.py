"""Replaying a logged callback, through the API and the admin: fresh event ids, force past
the duplicate check, replay_count and last_replayed_at, and newer state kept."""
import pytest
from django.urls import reverse

from integration.models import CallbackLog, InboundEvent, TodoItem

from .test_callbacks_support import (
    item, post, source, task_params, work_params,
)

pytestmark = pytest.mark.django_db
__all__ = ["source"]  # the fixture, imported to be used by name


def replay_url(log):
    return f"/api/v1/callback-logs/{log.pk}/replay/"


@pytest.fixture
def created(client, source):
    post(client, "create", task_params())
    return CallbackLog.objects.get(action="create")


def test_it_replays_a_callback_through_the_api_with_fresh_event_ids(api, created):
    TodoItem.objects.all().delete()  # the state was lost downstream: replay rebuilds it
    r = api.post(replay_url(created))
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["success"] is True and body["replay_count"] == 1
    assert body["last_replayed_at"]
    [outcome] = body["outcomes"]
    original = created.event_ids[0]
    assert outcome["outcome"] == "accepted"
    assert outcome["event_id"] == f"{original}:replay:{created.pk}:1"
    assert item("lisi").data_set == "todo"

    created.refresh_from_db()
    assert created.replay_count == 1 and created.last_replayed_at is not None
    assert created.event_ids == [original, outcome["event_id"]]
    assert InboundEvent.objects.get(event_id=outcome["event_id"]).source == "callback:yida"

    again = api.post(replay_url(created)).json()
    assert again["replay_count"] == 2
    assert again["outcomes"][0]["event_id"].endswith(f":replay:{created.pk}:2")
    assert InboundEvent.objects.count() == 3


def test_it_keeps_newer_state_when_an_older_callback_is_replayed(api, client, created):
    post(client, "finish", work_params())
    r = api.post(replay_url(created))
    assert r.status_code == 200
    assert "out_of_order" in r.json()["outcomes"][0]["flags"]
    assert item("lisi").data_set == "done"


def test_it_replays_a_finish_onto_the_item_holding_the_task(api, client, created):
    post(client, "finish", work_params(worker="delegate"))
    finish = CallbackLog.objects.get(action="finish")
    TodoItem.objects.update(data_set="todo", business_status="arrive",
                            last_event_at="2000-01-02T00:00:00Z")
    assert api.post(replay_url(finish)).status_code == 200
    assert item("lisi").data_set == "done"


def test_it_replays_even_after_the_source_was_disabled_or_restricted(api, created, source):
    source.enabled, source.app_type = False, "APP_CHANGED"
    source.save()
    assert api.post(replay_url(created)).status_code == 200


def test_it_replays_a_callback_that_made_no_event(api, client, source):
    post(client, "delete", {"appType": "A", "corpId": "C", "formInstId": "GONE",
                            "dateTime": "1763600001000"})
    log = CallbackLog.objects.get()
    r = api.post(replay_url(log))
    assert r.status_code == 200 and r.json()["outcomes"] == []
    log.refresh_from_db()
    assert log.replay_count == 1


def test_it_lets_only_holders_of_the_replay_permission_replay(operator_api, outsider_api,
                                                              created):
    assert outsider_api.post(replay_url(created)).status_code == 403
    viewer = operator_api("integration.view_callbacklog")
    assert viewer.get(f"/api/v1/callback-logs/{created.pk}/").status_code == 200
    assert viewer.post(replay_url(created)).status_code == 403
    replayer = operator_api("integration.replay_callbacklog")
    assert replayer.post(replay_url(created)).status_code == 200
    created.refresh_from_db()
    assert created.replay_count == 1


def test_it_answers_404_for_replaying_an_unknown_log(api, source):
    assert api.post("/api/v1/callback-logs/999999/replay/").status_code == 404


def test_it_replays_selected_callbacks_from_the_admin(client, admin, created):
    post(client, "finish", work_params())
    finish = CallbackLog.objects.get(action="finish")
    client.force_login(admin)
    url = reverse("admin:integration_callbacklog_changelist")
    r = client.post(url, {"action": "replay_selected",
                          "_selected_action": [created.pk, finish.pk]},
                    follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 200
    assert "2 callbacks were replayed." in r.content.decode()
    assert sorted(CallbackLog.objects.values_list("replay_count", flat=True)) == [1, 1]
    assert item("lisi").data_set == "done"
    assert InboundEvent.objects.filter(event_id__contains=":replay:").count() == 2


def test_it_hides_the_admin_replay_action_without_the_permission(client, created):
    from tests.conftest import make_user

    viewer = make_user("viewer", "integration.view_callbacklog")
    client.force_login(viewer)
    url = reverse("admin:integration_callbacklog_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert "replay_selected" not in page.content.decode()
    client.post(url, {"action": "replay_selected", "_selected_action": [created.pk]})
    created.refresh_from_db()
    assert created.replay_count == 0
