"""The admin of the push log: a list that never counts the table, exact indexed filters and
search, a read-only detail with every attempt, and the seed's bulk re-push and delete."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pushconfig.delivery import lane_of
from pushconfig.models import PushAttempt, PushRecord
from tests.receivers import Answer

from .conftest import ECOLOGY_OK, deliver_all, in_flight, make_config, post_events
from .test_admin_support import EN, orgs, scoped_user, todo

pytestmark = pytest.mark.django_db
__all__ = ["orgs"]  # a fixture, imported to be used by name

CHANGELIST = "admin:pushconfig_pushrecord_changelist"
REFUSED = {**ECOLOGY_OK, "operResult": "0", "message": "接收人不存在"}


@pytest.fixture
def staff(client, admin):
    client.force_login(admin)
    return client


def detail_url(record):
    return reverse("admin:pushconfig_pushrecord_change", args=[record.pk])


def bulk_records(config, count):
    """`count` pending records straight into the log (no delivery): enough for pages."""
    PushRecord.objects.bulk_create(PushRecord(
        config=config, event_id=f"bulk-{n}", idempotency_key=f"{config.pk}:bulk-{n}",
        lane=lane_of("2001", f"user{n}", ""), request_id="2001", receiver=f"user{n}",
        data_set="todo", business_status="arrive", payload={"n": n},
    ) for n in range(count))


def record_ids(page):
    return set(map(int, re.findall(r'name="_selected_action" value="(\d+)"', page)))


def counts_of_the_log(queries):
    return [q["sql"] for q in queries
            if "COUNT(" in q["sql"].upper() and "pushconfig_pushrecord" in q["sql"]]


# -- the list --------------------------------------------------------------------------------
def test_it_pages_the_log_without_counting_it(staff, receiver):
    config = make_config(receiver.url)
    bulk_records(config, 120)  # list_per_page is 50: pages 1 to 3
    url = reverse(CHANGELIST)
    with CaptureQueriesContext(connection) as queries:
        first = staff.get(url, **EN)
    assert first.status_code == 200
    assert counts_of_the_log(queries.captured_queries) == []
    page = first.content.decode()
    assert len(record_ids(page)) == 50
    assert "page 2 and maybe more follow" in page
    assert "?p=2" in page and "?p=3" not in page

    with CaptureQueriesContext(connection) as queries:
        third = staff.get(url, {"p": 3}, **EN)
    assert counts_of_the_log(queries.captured_queries) == []
    page = third.content.decode()
    assert len(record_ids(page)) == 20
    assert "120 push log" in page  # the last page knows the exact total
    seen = record_ids(first.content.decode()) | record_ids(
        staff.get(url, {"p": 2}).content.decode()) | record_ids(page)
    assert seen == set(PushRecord.objects.values_list("id", flat=True))
    assert staff.get(url, {"p": 4}).status_code == 302  # past the end: back with ?e=1
    for far in (2 ** 62, 10 ** 30, "²"):  # an OFFSET past bigint, digits int() refuses
        assert staff.get(url, {"p": far}).status_code in (200, 302)


def test_it_does_not_count_when_filtering_or_searching_either(staff, receiver):
    config = make_config(receiver.url)
    bulk_records(config, 60)
    with CaptureQueriesContext(connection) as queries:
        r = staff.get(reverse(CHANGELIST), {"outcome__exact": "pending", "q": "user7",
                                            "config": config.pk})
    assert r.status_code == 200
    assert counts_of_the_log(queries.captured_queries) == []
    assert len(record_ids(r.content.decode())) == 1


def test_it_filters_by_config_outcome_data_set_and_date(staff, api, receiver):
    config = make_config(receiver.url)
    other = make_config(receiver.url, identifier="other")
    post_events(api, todo(1, receiver="lisi", event_id="ev-todo"),
                todo(2, receiver="wangwu", data_set="done", business_status="approve",
                     event_id="ev-done"))
    PushRecord.objects.filter(config=other).update(outcome="failed")
    mine = PushRecord.objects.filter(config=config)
    url = reverse(CHANGELIST)

    def listed(**query):
        return record_ids(staff.get(url, query).content.decode())

    assert listed() == set(PushRecord.objects.values_list("id", flat=True))
    assert listed(config=config.pk) == set(mine.values_list("id", flat=True))
    assert listed(outcome__exact="failed") == set(
        PushRecord.objects.filter(config=other).values_list("id", flat=True))
    assert listed(data_set__exact="done") == set(
        PushRecord.objects.filter(data_set="done").values_list("id", flat=True))
    assert len(listed(created_at__gte="2000-01-01 00:00:00+00:00")) == 4
    assert listed(created_at__gte="2999-01-01 00:00:00+00:00") == set()


@pytest.mark.parametrize("field", ["receiver", "request_id", "event_id", "workflow_id"])
def test_it_searches_exact_values_of_indexed_columns(staff, api, receiver, field):
    make_config(receiver.url)
    post_events(api, todo(1, receiver="lisi", request_id="3001", event_id="ev-a",
                          workflow_id="wf-a"),
                todo(2, receiver="zhaoliu", request_id="3002", event_id="ev-b",
                     workflow_id="wf-b"))
    wanted = PushRecord.objects.get(receiver="lisi")
    url = reverse(CHANGELIST)
    assert record_ids(staff.get(url, {"q": getattr(wanted, field)}).content.decode()) == {
        wanted.pk}
    partial = getattr(wanted, field)[:-1]
    assert record_ids(staff.get(url, {"q": partial}).content.decode()) == set()


# -- the detail ------------------------------------------------------------------------------
def test_it_shows_a_record_read_only_with_the_payload_and_each_attempt(staff, api, receiver):
    config = make_config(receiver.url)
    receiver.answer = Answer(body=REFUSED)
    post_events(api, todo(1, receiver="lisi"))
    deliver_all(config)
    record = PushRecord.objects.get()
    assert record.outcome == "failed"
    page = staff.get(detail_url(record), **EN).content.decode()
    assert "出差申请-张三" in page  # the payload
    assert "接收人不存在" in page  # the answer received and the reason
    attempt = PushAttempt.objects.get(record=record)
    assert attempt.http_status == 200
    assert "&quot;syscode&quot;: &quot;OA&quot;" in page  # the request sent
    assert "TransportError" in page  # the error class
    assert "on the wire since" not in page
    assert 'name="_save"' not in page
    assert staff.post(detail_url(record), {"outcome": "success"}).status_code == 403
    record.refresh_from_db()
    assert record.outcome == "failed"
    assert staff.get(reverse("admin:pushconfig_pushrecord_add")).status_code == 403


def test_a_records_detail_shows_the_try_on_the_wire(staff, api, receiver):
    """A try's attempt is written with its answer; until then the detail names the try."""
    from django.utils import timezone

    make_config(receiver.url)
    post_events(api, todo(1, receiver="lisi"), todo(2, receiver="wangwu", request_id="4002"))
    record, other = PushRecord.objects.order_by("id")
    in_flight(record, other, started_at=timezone.now())
    page = staff.get(detail_url(record), **EN).content.decode()
    assert "being sent" in page.lower() and "try 1, on the wire since" in page
    assert not PushAttempt.objects.exists()


# -- re-push and delete ----------------------------------------------------------------------
def test_it_repushes_failed_records_and_they_reach_the_target(staff, api, receiver):
    config = make_config(receiver.url)
    receiver.answer = Answer(body=REFUSED)
    post_events(api, todo(1, receiver="lisi"), todo(2, receiver="wangwu"))
    deliver_all(config)
    assert set(PushRecord.objects.values_list("outcome", "permanent")) == {("failed", True)}
    receiver.answer = Answer(body=ECOLOGY_OK)
    ids = list(PushRecord.objects.values_list("id", flat=True))
    r = staff.post(reverse(CHANGELIST), {"action": "repush_selected", "_selected_action": ids},
                   follow=True, **EN)
    assert "2 push records were set back to pending and queued." in r.content.decode()
    assert set(PushRecord.objects.values_list("outcome", "permanent", "next_attempt_at",
                                              "reason")) == {("pending", False, None, "")}
    deliver_all(config)
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}
    assert PushAttempt.objects.count() == 4  # the first tries are kept beside the new ones


def test_it_enqueues_the_repushed_lanes_when_the_transaction_commits(
        staff, api, receiver, django_capture_on_commit_callbacks):
    from config.celery import app

    config = make_config(receiver.url)
    receiver.answer = Answer(body=REFUSED)
    post_events(api, todo(1, receiver="lisi"))
    deliver_all(config)
    receiver.answer = Answer(body=ECOLOGY_OK)
    record = PushRecord.objects.get()
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            staff.post(reverse(CHANGELIST), {"action": "repush_selected",
                                             "_selected_action": [record.pk]})
    finally:
        app.conf.task_always_eager = False
    assert callbacks
    record.refresh_from_db()
    assert record.outcome == "success"
    assert len(receiver.requests) == 2


def test_it_repushes_an_intercepted_record_at_the_administrators_word(staff, api, receiver):
    config = make_config(receiver.url, business_interception="custom",
                         intercepted_statuses={"todo": ["arrive"]})
    post_events(api, todo(1, receiver="lisi"))
    record = PushRecord.objects.get()
    assert record.outcome == "intercepted"
    staff.post(reverse(CHANGELIST), {"action": "repush_selected", "_selected_action": [record.pk]})
    deliver_all(config)
    record.refresh_from_db()
    assert record.outcome == "success"
    assert len(receiver.requests) == 1


def test_it_deletes_selected_records_with_their_attempts(staff, api, receiver):
    config = make_config(receiver.url)
    post_events(api, todo(1, receiver="lisi"), todo(2, receiver="wangwu"))
    deliver_all(config)
    gone, kept = PushRecord.objects.order_by("id")
    r = staff.post(reverse(CHANGELIST), {"action": "delete_selected",
                                         "_selected_action": [gone.pk], "post": "yes"},
                   follow=True, **EN)
    assert "Successfully deleted 1 push record." in r.content.decode()
    assert list(PushRecord.objects.all()) == [kept]
    assert not PushAttempt.objects.filter(record_id=gone.pk).exists()


def test_it_offers_repush_only_to_those_who_may_change_records(client, api, receiver):
    from tests.conftest import make_user

    make_config(receiver.url)
    post_events(api, todo(1))
    client.force_login(make_user("viewer", "pushconfig.view_pushrecord"))
    r = client.get(reverse(CHANGELIST))
    assert r.status_code == 200
    page = r.content.decode()
    assert "repush_selected" not in page
    record = PushRecord.objects.get()
    client.post(reverse(CHANGELIST), {"action": "repush_selected", "_selected_action": [record.pk]})
    record.refresh_from_db()
    assert record.outcome == "pending" and record.attempts == 0
    assert client.get(detail_url(record)).status_code == 200


# -- decentralised administration ------------------------------------------------------------
def test_it_shows_a_scoped_administrator_only_their_organizations_records(
        client, api, receiver, orgs, settings):
    settings.DECENTRALISED_ADMIN = True
    north, south = orgs
    mine = make_config(receiver.url, identifier="north-oa", organization=north)
    theirs = make_config(receiver.url, identifier="south-oa", organization=south)
    post_events(api, todo(1, receiver="lisi"))
    own = PushRecord.objects.get(config=mine)
    other = PushRecord.objects.get(config=theirs)
    client.force_login(scoped_user(north))
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert record_ids(page) == {own.pk}
    assert "south-oa" not in page  # nor in the config filter
    assert client.get(detail_url(own)).status_code == 200
    assert client.get(detail_url(other)).status_code == 404
    client.post(reverse(CHANGELIST), {"action": "repush_selected",
                                      "_selected_action": [own.pk, other.pk]})
    assert PushRecord.objects.filter(outcome="pending").count() == 2  # nothing else moved
    deliver_all(theirs)
    client.post(reverse(CHANGELIST), {"action": "repush_selected",
                                      "_selected_action": [other.pk]})
    other.refresh_from_db()
    assert other.outcome == "success"
