"""The bulk writes the benchmark's fixes brought in (issue 9) store exactly what Django's
bulk_create and bulk_update store: COPY and UPDATE … FROM jsonb_to_recordset on PostgreSQL,
Django's own on SQLite; both runs of scripts/test check the same rows."""
import datetime as dt
from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, transaction
from django.utils.translation import gettext_lazy

from integration.bulk import bulk_insert, instance, update_rows
from integration.models import InboundEvent, Request
from integration.vocabulary import BusinessStatus, DataSet
from pushconfig.models import PushAttempt, PushRecord
from pushconfig.vocabulary import Outcome, RecordKind
from tests.integration.helpers import inbound_event
from tests.pushconfig.conftest import make_config

pytestmark = pytest.mark.django_db(transaction=True)

WHEN = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc)


def _event(n, **fields):
    return inbound_event(f"bulk-{n}", receiver=f"u{n}", occurred_at=WHEN, **fields)


def test_bulk_insert_returns_saved_rows_with_their_ids_and_automatic_fields():
    payload = {"request_title": "出差申请 \t tab, \\ backslash, \"quote\"\nnewline", "n": [1, None]}
    with transaction.atomic():
        saved = bulk_insert(InboundEvent, [_event(1, payload=payload, flags=["unknown_receiver"]),
                                           _event(2)])
    assert [e.pk for e in saved] == list(InboundEvent.objects.order_by("id")
                                         .values_list("id", flat=True))
    stored = InboundEvent.objects.get(pk=saved[0].pk)
    assert stored.payload == payload and stored.flags == ["unknown_receiver"]
    assert stored.occurred_at == WHEN and stored.received_at == saved[0].received_at
    assert not saved[0]._state.adding
    # Ids taken for the rows are used up: the next plain insert gets a fresh one.
    later = InboundEvent.objects.create(**{f.attname: getattr(_event(3), f.attname)
                                           for f in InboundEvent._meta.concrete_fields
                                           if not f.primary_key and f.attname != "received_at"})
    assert later.pk > max(e.pk for e in saved)


def test_bulk_insert_of_a_repeated_unique_value_is_an_integrity_error():
    bulk_insert(InboundEvent, [_event(1)])
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(InboundEvent, [_event(1)])
    assert InboundEvent.objects.count() == 1


def test_update_rows_writes_each_row_its_own_values_and_leaves_others_alone():
    rows = bulk_insert(Request, [Request(request_id=f"r{n}", title=f"t{n}") for n in range(3)])
    first, second, untouched = rows
    first.title, first.form_data, first.last_event_at = "新标题", {"amount": 12.5, "x": None}, WHEN
    second.title, second.form_data, second.last_event_at = "", {}, None
    update_rows(Request, [first, second], ["title", "form_data", "last_event_at"])
    stored = {r.request_id: r for r in Request.objects.all()}
    assert (stored["r0"].title, stored["r0"].form_data, stored["r0"].last_event_at) == (
        "新标题", {"amount": 12.5, "x": None}, WHEN)
    assert (stored["r1"].title, stored["r1"].form_data, stored["r1"].last_event_at) == (
        "", {}, None)
    assert stored["r2"].title == untouched.title == "t2"


@pytest.mark.postgres_only
def test_update_rows_refuses_a_value_longer_than_its_column_instead_of_cutting_it():
    (row,) = bulk_insert(Request, [Request(request_id="r-long")])
    row.title = "x" * 501  # max_length 500; SQLite does not enforce lengths at all
    with pytest.raises(DataError), transaction.atomic():
        update_rows(Request, [row], ["title"])
    assert Request.objects.get(pk=row.pk).title == ""


ODD = "出差申请 \t tab, \\ backslash, \"quote\", 'single', {brace}, [1,2], NULL, \n newline, 😀"


def test_update_rows_writes_every_kind_of_value_a_delivery_writes_as_it_was():
    config = make_config("http://127.0.0.1:9")
    record = PushRecord.objects.create(
        config=config, event_id="u-1", idempotency_key="u-1", lane=0, request_id="R1",
        receiver="lisi", data_set="todo", business_status="arrive", payload={})
    attempt = PushAttempt.objects.create(record=record, number=1, started_at=WHEN)
    finished = WHEN + dt.timedelta(microseconds=123457)
    attempt.finished_at, attempt.outcome, attempt.http_status = finished, "failed", None
    attempt.duration_ms, attempt.error_class, attempt.response = 2**31 - 1, "", ODD
    attempt.request = {"text": ODD, "n": 2**53 + 1, "f": 0.1, "none": None, "list": [True, {}]}
    record.outcome, record.reason, record.permanent = "failed", ODD, True
    record.next_attempt_at, record.pushed_at, record.attempts = None, finished, 7
    update_rows(PushAttempt, [attempt], ["finished_at", "outcome", "http_status", "duration_ms",
                                         "error_class", "request", "response"])
    update_rows(PushRecord, [record], ["outcome", "reason", "permanent", "next_attempt_at",
                                       "pushed_at", "attempts"])
    stored = PushAttempt.objects.get(pk=attempt.pk)
    assert (stored.finished_at, stored.outcome, stored.http_status, stored.duration_ms,
            stored.response, stored.request) == (finished, "failed", None, 2**31 - 1, ODD,
                                                 attempt.request)
    stored = PushRecord.objects.get(pk=record.pk)
    assert (stored.outcome, stored.reason, stored.permanent, stored.next_attempt_at,
            stored.pushed_at, stored.attempts) == ("failed", ODD, True, None, finished, 7)


def test_update_rows_keeps_a_json_string_a_string_and_empty_values_as_they_were():
    rows = bulk_insert(Request, [Request(request_id=f"j{n}") for n in range(3)])
    rows[0].form_data, rows[1].form_data, rows[2].form_data = '{"not": "an object"}', [], 0
    update_rows(Request, rows, ["form_data"])
    stored = dict(Request.objects.filter(request_id__startswith="j")
                  .values_list("request_id", "form_data"))
    assert stored == {"j0": '{"not": "an object"}', "j1": [], "j2": 0}


def test_values_that_are_not_plain_are_written_as_bulk_create_writes_them():
    """Choices members, a lazy translation and a Decimal in an integer column, in both
    writers: what Django's own bulk_create and bulk_update store."""
    config = make_config("http://127.0.0.1:9")

    def record(n, **fields):
        # The key fields are fixed data (DataSet.TODO is the "todo" data set): only the values
        # that are not plain matter here.
        return PushRecord(config=config, event_id=f"np-{n}", idempotency_key=f"np-{n}", lane=0,
                          request_id="R", receiver="lisi", data_set=DataSet.TODO,
                          business_status=BusinessStatus.ARRIVE, payload={"n": n},
                          kind=RecordKind.BACKFILL, outcome=Outcome.IGNORED,
                          reason=gettext_lazy("push record"), attempts=Decimal("3"), **fields)

    ours = bulk_insert(PushRecord, [record(1), record(2)])
    django = PushRecord.objects.bulk_create([record(3)])
    columns = ["kind", "outcome", "data_set", "business_status", "reason", "attempts"]
    stored = {r.event_id: [getattr(r, c) for c in columns] for r in PushRecord.objects.all()}
    assert stored["np-1"] == stored["np-2"] == stored["np-3"] == [
        "backfill", "ignored", "todo", "arrive", "push record", 3]
    first, second = ours
    first.outcome, first.reason, first.attempts = Outcome.SUCCESS, gettext_lazy("push log"), Decimal("5")
    second.outcome, second.reason, second.attempts = "failed", "plain", 6
    update_rows(PushRecord, ours, ["outcome", "reason", "attempts"])
    (third,) = django
    third.outcome, third.reason, third.attempts = Outcome.SUCCESS, gettext_lazy("push log"), Decimal("5")
    PushRecord.objects.bulk_update([third], ["outcome", "reason", "attempts"])
    stored = {r.event_id: (r.outcome, r.reason, r.attempts) for r in PushRecord.objects.all()}
    assert stored == {"np-1": ("success", "push log", 5), "np-2": ("failed", "plain", 6),
                      "np-3": ("success", "push log", 5)}


def _record_fields(config, n):
    return dict(event_id=f"in-{n}", idempotency_key=f"in-{n}", lane=2, request_id="R",
                receiver="lisi", data_set=DataSet.TODO, business_status=BusinessStatus.ARRIVE,
                payload={"n": n})


def test_instance_builds_what_the_constructor_builds():
    """Every field the constructor would set, defaults included, relations by id; a default
    made by a callable is made again for each instance (no list shared by two events)."""
    config = make_config("http://127.0.0.1:9")
    ours = instance(PushRecord, config_id=config.pk, **_record_fields(config, 1))
    theirs = PushRecord(config=config, **_record_fields(config, 1))
    attnames = [f.attname for f in PushRecord._meta.concrete_fields]
    assert [getattr(ours, a) for a in attnames] == [getattr(theirs, a) for a in attnames]
    assert ours._state.adding and ours._state.db is None and ours.pk is None
    assert ours.config == config  # the relation resolves from its id, as after a load

    first, second = (instance(InboundEvent, event_id=f"e{n}", kind="todo", request_id="R",
                              occurred_at=WHEN, payload={}) for n in (1, 2))
    assert first.flags == second.flags == [] and first.flags is not second.flags
    assert first.source == "api" and first.flagged is False and first.applied is True


def test_instance_refuses_a_name_the_model_has_no_field_for():
    """As the constructor does: a misspelt field, or a relation given by name (its object)
    rather than by its id, is a TypeError, not a value silently left out of the row."""
    config = make_config("http://127.0.0.1:9")
    with pytest.raises(TypeError, match="config"):
        instance(PushRecord, config=config, **_record_fields(config, 1))
    with pytest.raises(TypeError, match="reciever"):
        instance(PushRecord, config_id=config.pk, reciever="lisi")


def test_instances_are_stored_as_constructed_ones_and_an_unsaved_relation_still_refused():
    config = make_config("http://127.0.0.1:9")
    with transaction.atomic():
        bulk_insert(PushRecord, [instance(PushRecord, config_id=config.pk,
                                          **_record_fields(config, n)) for n in (1, 2)])
    stored = PushRecord.objects.order_by("id")
    assert [(r.event_id, r.config_id, r.outcome, r.attempts, r.payload) for r in stored] == [
        ("in-1", config.pk, "pending", 0, {"n": 1}), ("in-2", config.pk, "pending", 0, {"n": 2})]
    # An object given to a relation is still checked (its id taken, or refused unsaved).
    event = InboundEvent(event_id="unsaved", kind="todo", request_id="R", occurred_at=WHEN,
                         payload={})
    with pytest.raises(ValueError, match="unsaved related object 'inbound_event'"):
        bulk_insert(PushRecord, [PushRecord(config=config, inbound_event=event,
                                            **_record_fields(config, 3))])


def test_records_loaded_in_bulk_are_what_the_constructor_loads():
    """PushRecord.from_db (LoadedInBulk): every value, saved state and database as Django's
    own from_db gives; a query with deferred fields takes Django's way."""
    from django.db.models import Model

    config = make_config("http://127.0.0.1:9")
    record = PushRecord.objects.create(config=config, **_record_fields(config, 1))
    (loaded,) = PushRecord.objects.filter(pk=record.pk)
    attnames = [f.attname for f in PushRecord._meta.concrete_fields]
    (row,) = PushRecord.objects.filter(pk=record.pk).values_list(*attnames)  # converted
    django = Model.from_db.__func__(PushRecord, "default", attnames, list(row))
    assert [getattr(loaded, a) for a in attnames] == [getattr(django, a) for a in attnames]
    assert loaded.payload == {"n": 1} and loaded.config == config
    assert not loaded._state.adding and loaded._state.db == "default"
    partial = PushRecord.objects.only("id", "outcome").get(pk=record.pk)
    assert partial.get_deferred_fields() and partial.receiver == "lisi"  # loaded on demand
    loaded.outcome = "success"
    loaded.save(update_fields=["outcome"])
    loaded.refresh_from_db()
    assert loaded.outcome == "success"
