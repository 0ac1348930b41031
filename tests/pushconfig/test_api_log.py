"""/api/v1/push-logs/: filters, the detail with its attempts, bounded re-push (by ids or by
filters) and delete, permissions and decentralised scoping."""
import json

import pytest

from pushconfig.api import operations
from pushconfig.models import PushAttempt, PushRecord
from tests.receivers import Answer

from .conftest import ECOLOGY_OK, deliver_all, in_flight, make_config, post_events
from .test_admin_support import EN, orgs, scoped_api, todo

pytestmark = pytest.mark.django_db
__all__ = ["orgs"]  # a fixture, imported to be used by name

URL = "/api/v1/push-logs/"
REFUSED = {**ECOLOGY_OK, "operResult": "0", "message": "接收人不存在"}


def post(client, path, data):
    return client.post(URL + path, json.dumps(data), content_type="application/json", **EN)


def ids_of(answer):
    assert answer.status_code == 200, answer.content
    return {r["id"] for r in answer.json()["results"]}


@pytest.fixture
def pushed(api, receiver):
    """Two configs; lisi's todo and wangwu's done pushed to both and refused by the target."""
    receiver.answer = Answer(body=REFUSED)
    first = make_config(receiver.url, identifier="first")
    second = make_config(receiver.url, identifier="second")
    post_events(api, todo(1, receiver="lisi", request_id="4001", event_id="ev-1",
                          workflow_id="wf-a"),
                todo(2, receiver="wangwu", request_id="4002", event_id="ev-2",
                     workflow_id="wf-b", data_set="done", business_status="approve"))
    deliver_all(first)
    deliver_all(second)
    receiver.answer = Answer(body=ECOLOGY_OK)
    return first, second


# -- reading ---------------------------------------------------------------------------------
def test_it_filters_the_log(api, pushed):
    first, _second = pushed
    everything = set(PushRecord.objects.values_list("id", flat=True))
    assert ids_of(api.get(URL)) == everything and len(everything) == 4

    def matching(**lookup):
        return set(PushRecord.objects.filter(**lookup).values_list("id", flat=True))

    assert ids_of(api.get(URL, {"config": first.pk})) == matching(config=first)
    assert ids_of(api.get(URL, {"outcome": "failed"})) == everything
    assert ids_of(api.get(URL, {"outcome": "success"})) == set()
    assert ids_of(api.get(URL, {"data_set": "done"})) == matching(data_set="done")
    assert ids_of(api.get(URL, {"receiver": "lisi"})) == matching(receiver="lisi")
    assert ids_of(api.get(URL, {"request_id": "4002"})) == matching(request_id="4002")
    assert ids_of(api.get(URL, {"workflow_id": "wf-a"})) == matching(workflow_id="wf-a")
    assert ids_of(api.get(URL, {"event_id": "ev-2"})) == matching(event_id="ev-2")
    assert ids_of(api.get(URL, {"created_after": "2000-01-01T00:00:00Z"})) == everything
    assert ids_of(api.get(URL, {"created_before": "2000-01-01T00:00:00Z"})) == set()
    assert api.get(URL, {"outcome": "nonsense"}).status_code == 400


def test_it_pages_the_log_with_a_cursor(api, pushed):
    first_page = api.get(URL, {"page_size": 3}).json()
    assert len(first_page["results"]) == 3 and first_page["next"]
    assert "count" not in first_page
    rest = api.get(first_page["next"]).json()
    assert len(rest["results"]) == 1


def test_it_shows_a_record_with_its_payload_and_attempts(api, pushed):
    record = PushRecord.objects.filter(receiver="lisi").first()
    r = api.get(f"{URL}{record.pk}/")
    assert r.status_code == 200
    data = r.json()
    assert data["outcome"] == "failed" and "接收人不存在" in data["reason"]
    assert data["payload"]["request_title"] == "出差申请-张三"
    assert data["config_identifier"] == record.config.identifier
    [attempt] = data["attempt_log"]
    assert attempt["number"] == 1 and attempt["http_status"] == 200
    assert attempt["request"]["syscode"] == "OA" and "接收人不存在" in attempt["response"]
    assert attempt["error_class"] == "TransportError" and attempt["duration_ms"] is not None
    assert "attempt_log" not in api.get(URL).json()["results"][0]
    assert data["in_flight"] is None


def test_a_records_detail_shows_the_try_on_the_wire(api, pushed):
    """A try's attempt is written with its answer; until then the detail names the try."""
    from datetime import datetime

    from django.utils import timezone

    record = PushRecord.objects.filter(receiver="lisi").first()  # one try answered
    started = timezone.now()
    in_flight(record, started_at=started)
    flight = api.get(f"{URL}{record.pk}/").json()["in_flight"]
    assert flight["number"] == 2 and datetime.fromisoformat(flight["started_at"]) == started


# -- re-push ---------------------------------------------------------------------------------
def test_it_repushes_records_by_id_and_they_reach_the_target(api, pushed, receiver):
    first, second = pushed
    chosen = list(PushRecord.objects.filter(config=first).values_list("id", flat=True))
    before = len(receiver.requests)
    r = post(api, "repush", {"ids": chosen})
    assert r.status_code == 200 and r.json() == {"repushed": 2, "more": False}
    assert set(PushRecord.objects.filter(pk__in=chosen).values_list(
        "outcome", "permanent", "next_attempt_at")) == {("pending", False, None)}
    assert set(PushRecord.objects.filter(config=second).values_list("outcome", flat=True)) == {
        "failed"}
    deliver_all(first)
    assert set(PushRecord.objects.filter(pk__in=chosen).values_list("outcome", flat=True)) == {
        "success"}
    assert len(receiver.requests) == before + 2


def test_it_repushes_records_by_filters(api, pushed):
    r = post(api, "repush/", {"receiver": "wangwu", "outcome": "failed"})
    assert r.json() == {"repushed": 2, "more": False}
    assert set(PushRecord.objects.filter(outcome="pending").values_list(
        "receiver", flat=True)) == {"wangwu"}


def test_it_repushes_intercepted_records_too(api, receiver):
    config = make_config(receiver.url, business_interception="custom",
                         intercepted_statuses={"todo": ["arrive"]})
    post_events(api, todo(1))
    record = PushRecord.objects.get()
    assert record.outcome == "intercepted"
    assert post(api, "repush", {"ids": [record.pk]}).json()["repushed"] == 1
    deliver_all(config)
    record.refresh_from_db()
    assert record.outcome == "success"


def test_it_bounds_a_repush_and_says_when_more_matched(api, pushed, monkeypatch):
    monkeypatch.setattr(operations, "MAX_BULK", 3)
    assert post(api, "repush", {"outcome": "failed"}).json() == {"repushed": 3, "more": True}
    assert post(api, "repush", {"outcome": "failed"}).json() == {"repushed": 1, "more": False}


@pytest.mark.parametrize("data", [
    {},
    {"ids": []},
    {"ids": ["x"]},
    {"ids": [2 ** 63]},
    {"ids": list(range(1, operations.MAX_BULK + 2))},
    {"ids": [1], "receiver": "lisi"},
    {"colour": "red"},
    {"outcome": "nonsense"},
    ["not", "an", "object"],
])
def test_it_refuses_a_repush_that_names_nothing_or_too_much(api, pushed, data):
    r = post(api, "repush", data)
    assert r.status_code == 400, r.content
    assert not PushRecord.objects.filter(outcome="pending").exists()


def test_it_needs_the_change_permission_to_repush(operator_api, pushed):
    record = PushRecord.objects.first()
    viewer = operator_api("pushconfig.view_pushrecord")
    assert viewer.get(URL).status_code == 200
    assert post(viewer, "repush", {"ids": [record.pk]}).status_code == 403
    changer = operator_api("pushconfig.change_pushrecord")
    assert post(changer, "repush", {"ids": [record.pk]}).json()["repushed"] == 1


# -- delete ----------------------------------------------------------------------------------
def test_it_deletes_one_record_or_many_with_their_attempts(api, pushed):
    one, *many = PushRecord.objects.order_by("id")
    assert api.delete(f"{URL}{one.pk}").status_code == 204
    assert not PushAttempt.objects.filter(record_id=one.pk).exists()
    r = post(api, "delete", {"ids": [m.pk for m in many[:2]]})
    assert r.status_code == 200 and r.json() == {"deleted": 2}
    assert list(PushRecord.objects.all()) == many[2:]
    assert post(api, "delete", {}).status_code == 400
    assert post(api, "delete", {"ids": []}).status_code == 400
    assert post(api, "delete", {"ids": [2 ** 63]}).status_code == 400


def test_it_needs_the_delete_permission_to_delete(operator_api, pushed):
    record = PushRecord.objects.first()
    changer = operator_api("pushconfig.view_pushrecord", "pushconfig.change_pushrecord")
    assert changer.delete(f"{URL}{record.pk}/").status_code == 403
    assert post(changer, "delete", {"ids": [record.pk]}).status_code == 403
    assert PushRecord.objects.filter(pk=record.pk).exists()


def test_it_refuses_users_without_permissions(outsider_api, pushed):
    assert outsider_api.get(URL).status_code == 403
    assert post(outsider_api, "repush", {"ids": [1]}).status_code == 403


# -- decentralised administration ------------------------------------------------------------
def test_it_confines_a_scoped_administrator_to_their_organizations_records(
        api, receiver, orgs, settings):
    settings.DECENTRALISED_ADMIN = True
    north, south = orgs
    mine = make_config(receiver.url, identifier="north-oa", organization=north)
    theirs = make_config(receiver.url, identifier="south-oa", organization=south)
    post_events(api, todo(1))
    own = PushRecord.objects.get(config=mine)
    other = PushRecord.objects.get(config=theirs)
    client = scoped_api(north)
    assert ids_of(client.get(URL)) == {own.pk}
    assert client.get(f"{URL}{other.pk}/").status_code == 404
    assert client.delete(f"{URL}{other.pk}/").status_code == 404
    assert post(client, "delete", {"ids": [other.pk]}).json() == {"deleted": 0}
    PushRecord.objects.update(outcome="failed")
    assert post(client, "repush", {"ids": [own.pk, other.pk]}).json()["repushed"] == 1
    assert post(client, "repush", {"outcome": "failed"}).json()["repushed"] == 0
    other.refresh_from_db()
    assert other.outcome == "failed"
    assert ids_of(api.get(URL)) == {own.pk, other.pk}


def test_a_config_filter_out_of_the_id_range_is_a_400_naming_it(api):
    r = api.get("/api/v1/push-logs/?config=" + "9" * 23)
    assert r.status_code == 400 and "config" in r.json()
    r = api.get("/api/v1/push-tasks/?config=1.5")
    assert r.status_code == 400 and "config" in r.json()
