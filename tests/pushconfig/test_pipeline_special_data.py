"""Special data handling of seed 002: the duplicate filter (todo data set) and missing-todo
compensation (done / over data sets), each with its rules a-d. A batch is one inbox call."""

import pytest

from pushconfig.models import PushRecord
from tests.integration.helpers import todo_event

from .conftest import deliver_all, make_config
from .conftest import post_events as batch

pytestmark = pytest.mark.django_db
T = "2026-11-20T09:{:02d}:00+08:00"


def todo(minute, **kw):
    return todo_event(occurred_at=T.format(minute), **kw)


def done(minute, **kw):
    kw.setdefault("business_status", "approve")
    return todo_event(data_set="done", occurred_at=T.format(minute), **kw)


def log(config):
    return list(PushRecord.objects.filter(config=config).order_by("id").values_list(
        "receiver", "identity", "data_set", "kind", "outcome"))


# -- duplicate filter ------------------------------------------------------------------------

def test_duplicate_filter_is_off_by_default(api, receiver):
    config = make_config(receiver.url)
    batch(api, todo(1, business_status="forward"))
    batch(api, todo(2, business_status="cc"))
    assert [r[4] for r in log(config)] == ["pending", "pending"]


def test_duplicate_filter_rule_a_ignores_a_todo_already_sent_with_the_seed_reason(api, receiver):
    config = make_config(receiver.url, filter_duplicates=True)
    batch(api, todo(1, business_status="forward"))
    batch(api, todo(2, business_status="cc"))
    first, second = PushRecord.objects.filter(config=config).order_by("id")
    assert first.outcome == "pending"
    assert (second.outcome, second.reason) == ("ignored", "特殊数据处理-重复数据过滤")


def test_duplicate_filter_rule_b_pushes_every_todo_of_one_batch(api, receiver):
    config = make_config(receiver.url, filter_duplicates=True)
    batch(api, todo(1), todo(2, business_status="forward"), todo(3, identity="pt-1"))
    assert [r[4] for r in log(config)] == ["pending", "pending", "pending"]


def test_duplicate_filter_rule_c_pushes_one_todo_when_a_batch_also_holds_a_done(api, receiver):
    config = make_config(receiver.url, filter_duplicates=True)
    batch(api, todo(1), todo(2, business_status="forward"), done(3))
    assert log(config) == [("lisi", "", "todo", "event", "pending"),
                           ("lisi", "", "todo", "event", "ignored"),
                           ("lisi", "", "done", "event", "pending")]


def test_duplicate_filter_rule_d_keeps_the_first_todo_across_batches(api, receiver):
    config = make_config(receiver.url, filter_duplicates=True)
    for minute in (1, 2, 3):
        batch(api, todo(minute))
    batch(api, todo(4, identity="pt-1"))  # another identity is another todo
    assert [r[4] for r in log(config)] == ["pending", "ignored", "ignored", "pending"]
    deliver_all(config)
    assert PushRecord.objects.filter(config=config, outcome="success").count() == 2


def test_duplicate_filter_never_touches_other_data_sets(api, receiver):
    config = make_config(receiver.url, filter_duplicates=True)
    batch(api, todo(1))
    batch(api, done(2))
    batch(api, done(3, business_status="reject"))
    assert [r[4] for r in log(config)] == ["pending", "pending", "pending"]


# -- missing-todo compensation ---------------------------------------------------------------

def test_compensation_is_off_by_default(api, receiver):
    config = make_config(receiver.url)
    batch(api, done(1))
    assert [(r[2], r[3]) for r in log(config)] == [("done", "event")]


def test_compensation_rule_a_pushes_a_todo_copy_first_when_none_was_sent(api, receiver):
    config = make_config(receiver.url, backfill_missing_todo=True)
    batch(api, done(1))
    assert log(config) == [("lisi", "", "todo", "backfill", "pending"),
                           ("lisi", "", "done", "event", "pending")]
    deliver_all(config)
    sent = [r.json()["isremark"] for r in receiver.requests]
    assert sent == ["0", "2"]  # the compensated todo reaches the target first
    backfill = PushRecord.objects.get(config=config, kind="backfill")
    assert backfill.idempotency_key.endswith(":backfill") and backfill.outcome == "success"


def test_compensation_rule_a_pushes_the_done_alone_when_the_todo_was_sent(api, receiver):
    config = make_config(receiver.url, backfill_missing_todo=True)
    batch(api, todo(1))
    batch(api, done(2))
    assert [(r[2], r[3]) for r in log(config)] == [("todo", "event"), ("done", "event")]


def test_compensation_rule_b_compensates_each_done_of_a_batch(api, receiver):
    config = make_config(receiver.url, backfill_missing_todo=True)
    batch(api, done(1), done(2, identity="pt-1"))
    assert [(r[1], r[2], r[3]) for r in log(config)] == [
        ("", "todo", "backfill"), ("", "done", "event"),
        ("pt-1", "todo", "backfill"), ("pt-1", "done", "event")]


def test_compensation_rule_b_does_not_compensate_when_the_todos_were_sent(api, receiver):
    config = make_config(receiver.url, backfill_missing_todo=True)
    batch(api, todo(1), todo(2, identity="pt-1"))
    batch(api, done(3), done(4, identity="pt-1"))
    assert [r[3] for r in log(config)].count("backfill") == 0


def test_compensation_rule_c_compensates_first_in_a_batch_of_done_and_todo(api, receiver):
    config = make_config(receiver.url, backfill_missing_todo=True)
    batch(api, done(2), todo(3, business_status="return"))
    assert [(r[2], r[3]) for r in log(config)] == [
        ("todo", "backfill"), ("done", "event"), ("todo", "event")]


def test_compensation_rule_c_pushes_the_batch_as_is_when_the_todo_was_sent(api, receiver):
    config = make_config(receiver.url, backfill_missing_todo=True)
    batch(api, todo(1))
    batch(api, done(2), todo(3, business_status="return"))
    assert [r[3] for r in log(config)] == ["event", "event", "event"]


def test_compensation_rule_d_gives_each_person_one_todo_per_done_across_batches(api, receiver):
    config = make_config(receiver.url, backfill_missing_todo=True)
    batch(api, done(1, receiver="a"))
    batch(api, done(2, receiver="a", business_status="reject"))
    batch(api, done(3, receiver="b"))
    todos = [r for r in log(config) if r[2] == "todo"]
    assert [(r[0], r[3]) for r in todos] == [("a", "backfill"), ("b", "backfill")]


def test_compensation_covers_the_over_data_set_too(api, receiver):
    config = make_config(receiver.url, backfill_missing_todo=True)
    batch(api, todo_event(data_set="over", business_status="archive", occurred_at=T.format(5)))
    assert [(r[2], r[3]) for r in log(config)] == [("todo", "backfill"), ("over", "event")]


def test_both_switches_together_keep_one_todo_per_person(api, receiver):
    config = make_config(receiver.url, backfill_missing_todo=True, filter_duplicates=True)
    batch(api, done(1))
    batch(api, todo(2))
    assert [(r[2], r[3], r[4]) for r in log(config)] == [
        ("todo", "backfill", "pending"), ("done", "event", "pending"),
        ("todo", "event", "ignored")]


def test_a_late_event_is_logged_as_ignored_and_never_pushed(api, receiver):
    """The inbox keeps it (out of order); pushing it would revive a todo that is done."""
    config = make_config(receiver.url)
    batch(api, done(5))
    batch(api, todo(1))
    assert [(r[2], r[4]) for r in log(config)] == [("done", "pending"), ("todo", "ignored")]
    deliver_all(config)
    assert [r.json()["isremark"] for r in receiver.requests] == ["2"]
