"""What a batch push task takes and what it sends: realtime (the todo items' current state)
and history (the config's push log), with each filter, the count preview, the records' payload
and keys, and no interception or duplicate filter on the way."""
from datetime import UTC

import pytest

from pushconfig import batch
from pushconfig.models import PushRecord
from pushconfig.models.task import TaskStatus
from pushconfig.vocabulary import Outcome, RecordKind
from tests.receivers import Answer

from .conftest import ECOLOGY_OK, deliver_all, make_config, post_events
from .test_admin_support import todo
from .test_batch_support import english, make_task, records_of, run_to_end, world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
__all__ = ["english", "world"]  # fixtures, imported to be used by name

ALL_ITEMS = {("2001", "lisi"), ("2001", "wangwu"), ("2002", "lisi"), ("2002", "sunqi"),
             ("2003", "wangwu"), ("2003", "sunqi")}

REALTIME_CASES = [
    ({}, ALL_ITEMS),
    ({"creator": ["zhangsan"]},
     {("2001", "lisi"), ("2001", "wangwu"), ("2003", "wangwu"), ("2003", "sunqi")}),
    ({"receiver": "lisi"}, {("2001", "lisi"), ("2002", "lisi")}),
    ({"receiver": ["wangwu", "sunqi"]},
     {("2001", "wangwu"), ("2002", "sunqi"), ("2003", "wangwu"), ("2003", "sunqi")}),
    ({"request_id": ["2002"]}, {("2002", "lisi"), ("2002", "sunqi")}),
    ({"workflow_type": ["wt-travel"]}, {("2001", "lisi"), ("2001", "wangwu")}),
    ({"data_set": ["done"]}, {("2003", "wangwu")}),
    ({"data_set": ["todo"]}, ALL_ITEMS - {("2003", "wangwu")}),
    ({"created_after": "2026-11-10T00:00:00+08:00"},
     {("2002", "lisi"), ("2002", "sunqi"), ("2003", "wangwu"), ("2003", "sunqi")}),
    # "until" is exclusive: request 2002, created at 09:00 on the 10th, is left out.
    ({"created_before": "2026-11-10T09:00:00+08:00"}, {("2001", "lisi"), ("2001", "wangwu")}),
    ({"creator": ["zhangsan"], "workflow_type": ["wt-money"], "data_set": ["todo"]},
     {("2003", "sunqi")}),
]


def sent_keys(receiver):
    return {(r.json()["flowid"], r.json()["receiver"]) for r in receiver.requests}


@pytest.mark.parametrize(("filters", "expected"), REALTIME_CASES,
                         ids=[",".join(f) or "none" for f, _e in REALTIME_CASES])
def test_it_pushes_the_current_state_of_the_matching_todo_items(world, receiver, filters,
                                                                 expected):
    config = world
    assert batch.count_matches("realtime", config.pk, make_filters("realtime", filters)) == \
        len(expected)
    task = make_task(config, "realtime", **filters)
    assert task.total == len(expected)
    run_to_end(task)
    assert task.status == TaskStatus.SUCCEEDED
    assert {(r.request_id, r.receiver) for r in records_of(task)} == expected
    assert sent_keys(receiver) == expected
    assert set(records_of(task).values_list("outcome", flat=True)) == {Outcome.SUCCESS}


def make_filters(mode, filters):
    from pushconfig.models.task import clean_filters

    return clean_filters(mode, filters)


def test_it_sends_each_items_latest_state_with_the_inbox_payload_keys(world, receiver):
    task = run_to_end(make_task(world, "realtime", request_id=["2003"]))
    done = records_of(task).get(receiver="wangwu")
    assert (done.kind, done.data_set, done.business_status) == (RecordKind.REALTIME, "done",
                                                                "approve")
    assert set(done.payload) >= {"request_title", "workflow_id", "node_name", "creator",
                                 "receiver", "identity", "created_at", "occurred_at", "viewed",
                                 "task_id", "data_set", "business_status"}
    assert done.payload["occurred_at"].startswith("2026-11-20T01:06:00")  # 09:06 +08:00
    assert done.payload["creator"] == "zhangsan"
    assert done.idempotency_key == f"{world.pk}:task{task.pk}:{source_of(done)}"
    # Only the latest state, no flow history: one push per item, "done" for wangwu.
    by_receiver = {r.json()["receiver"]: r.json()["isremark"] for r in receiver.requests}
    assert by_receiver == {"wangwu": "2", "sunqi": "0"}
    assert {r.headers["Idempotency-Key"] for r in receiver.requests} == set(
        records_of(task).values_list("idempotency_key", flat=True))


def source_of(record):
    from integration.models import TodoItem

    return TodoItem.objects.get(request__request_id=record.request_id,
                                receiver=record.receiver).pk


HISTORY_CASES = [
    ({}, 8),
    ({"creator": "zhaoliu"}, 2),
    ({"receiver": ["lisi"]}, 3),
    ({"request_id": ["2003"]}, 4),  # todo, done (wangwu) and sunqi's todo, plus the backfill
    ({"workflow_type": ["wt-travel"]}, 2),
    ({"data_set": ["done"]}, 1),
    ({"data_set": ["over", "delete"]}, 2),
    ({"created_after": "2026-11-21T10:00:00+08:00"}, 4),
    ({"created_before": "2026-11-21T10:00:00+08:00"}, 4),
]


@pytest.fixture
def history(api, receiver):
    """A config's push log of eight records: todos, a done, an over and a delete, their
    trigger times spread over one morning."""
    from integration.models import Workflow, WorkflowType

    travel = WorkflowType.objects.create(external_id="wt-travel", name="差旅")
    Workflow.objects.create(workflow_id="wf-travel", name="出差申请", workflow_type=travel)
    config = make_config(receiver.url)
    post_events(
        api,
        todo(1, request_id="3001", receiver="lisi", creator="zhangsan", workflow_id="wf-travel"),
        todo(2, request_id="3001", receiver="wangwu", creator="zhangsan",
             workflow_id="wf-travel"),
        todo(3, request_id="3002", receiver="lisi", creator="zhaoliu", workflow_id="wf-pay"),
        todo(4, request_id="3002", receiver="lisi", creator="zhaoliu", workflow_id="wf-pay",
             data_set="over", business_status="archive"),
        todo(5, request_id="2003", receiver="sunqi", creator="zhangsan", workflow_id="wf-pay"),
        todo(6, request_id="2003", receiver="wangwu", creator="zhangsan", workflow_id="wf-pay",
             data_set="done", business_status="approve"),
        todo(7, request_id="2003", receiver="zhouba", creator="zhangsan", workflow_id="wf-pay",
             data_set="delete", business_status="delete"),
    )
    deliver_all(config)
    # The done of wangwu, whose todo was never sent, is compensated only when asked; the log
    # holds seven records: add one compensated todo by hand to have each data set twice.
    log = list(PushRecord.objects.order_by("id"))
    assert len(log) == 7
    extra = PushRecord.objects.get(pk=log[5].pk)
    extra.pk, extra.idempotency_key, extra.kind = None, extra.idempotency_key + ":b", "backfill"
    extra.data_set, extra.business_status = "todo", "arrive"
    extra.save()
    # Trigger times: one record an hour from 06:00 (+08:00) on the 21st, in id order.
    from datetime import datetime, timedelta

    start = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    for n, pk in enumerate(PushRecord.objects.order_by("id").values_list("pk", flat=True)):
        PushRecord.objects.filter(pk=pk).update(created_at=start + timedelta(hours=n))
    receiver.requests.clear()
    return config


@pytest.mark.parametrize(("filters", "expected"), HISTORY_CASES,
                         ids=[",".join(f) or "none" for f, _e in HISTORY_CASES])
def test_it_pushes_the_matching_records_of_the_push_log_again(history, receiver, filters,
                                                             expected):
    config = history
    matching = batch.source_queryset("history", config.pk, make_filters("history", filters))
    originals = list(matching.order_by("id"))
    assert len(originals) == expected
    assert batch.count_matches("history", config.pk, make_filters("history", filters)) == expected
    task = make_task(config, "history", **filters)
    run_to_end(task)
    assert task.status == TaskStatus.SUCCEEDED
    copies = list(records_of(task))
    assert [(c.event_id, c.request_id, c.receiver, c.data_set, c.business_status, c.payload)
            for c in copies] == [
        (o.event_id, o.request_id, o.receiver, o.data_set, o.business_status, o.payload)
        for o in originals]
    assert {c.kind for c in copies} == {RecordKind.HISTORY}
    assert len(receiver.requests) == expected
    assert {c.outcome for c in copies} == {Outcome.SUCCESS}


def test_it_never_takes_its_own_records_nor_later_ones(history, api, receiver):
    """The source ends where it ended at creation: the copies a history task writes into the
    same log, and events arriving meanwhile, are not pushed again."""
    task = make_task(history, "history")
    post_events(api, todo(30, request_id="3999", receiver="late"))
    run_to_end(task)
    assert records_of(task).count() == 8
    assert "late" not in {r.receiver for r in records_of(task)}


def test_it_replays_history_in_the_order_it_happened_per_key(history, receiver):
    task = run_to_end(make_task(history, "history", request_id=["3002"]))
    assert [r.json()["isremark"] for r in receiver.requests] == ["0", "4"]
    assert task.status == TaskStatus.SUCCEEDED


def test_it_pushes_past_interception_and_the_duplicate_filter(api, receiver):
    """A batch push is the administrator's explicit correction: what interception stopped or
    the duplicate filter ignored live goes out when a task asks for it."""
    config = make_config(receiver.url, filter_duplicates=True, business_interception="custom",
                         intercepted_statuses={"todo": ["cc"]})
    post_events(api, todo(1, request_id="4001", receiver="lisi"))
    post_events(api, todo(2, request_id="4001", receiver="lisi", event_id="again"),
                todo(3, request_id="4002", receiver="lisi", business_status="cc"))
    deliver_all(config)
    live = dict(PushRecord.objects.filter(task=None).values_list("event_id", "outcome"))
    assert live["again"] == Outcome.IGNORED
    assert Outcome.INTERCEPTED in live.values()
    receiver.requests.clear()
    history = run_to_end(make_task(config, "history"))
    assert len(receiver.requests) == 3
    assert set(records_of(history).values_list("outcome", flat=True)) == {Outcome.SUCCESS}
    receiver.requests.clear()
    realtime = run_to_end(make_task(config, "realtime", receiver=["lisi"]))
    assert {r.json()["flowid"] for r in receiver.requests} == {"4001", "4002"}
    assert realtime.status == TaskStatus.SUCCEEDED


def test_it_sends_a_batch_record_after_a_live_one_of_its_key_keeping_the_order(world, api,
                                                                              receiver):
    """Batch records go through the lanes: a key's live record written before them leaves
    first, and the latest state read by the task follows it."""
    task = make_task(world, "realtime", request_id=["2001"], receiver=["lisi"])
    post_events(api, todo(40, request_id="2001", receiver="lisi", data_set="done",
                          business_status="approve"))
    run_to_end(task)
    assert [r.json()["isremark"] for r in receiver.requests] == ["2", "2"]
    live, copy = PushRecord.objects.filter(request_id="2001", receiver="lisi").order_by("id")
    assert live.task_id is None and copy.task_id == task.pk


def test_it_refuses_a_config_that_refuses_everything_and_counts_the_failures(world, receiver):
    receiver.answer = Answer(body={**ECOLOGY_OK, "operResult": "0", "message": "用户不存在"})
    task = run_to_end(make_task(world, "realtime", receiver=["lisi"]))
    assert task.status == TaskStatus.FAILED
    counts = batch.counts([task.pk])[task.pk]
    assert (counts.written, counts.done, counts.failed) == (2, 0, 2)
    assert batch.progress(task, counts)["percent"] == 100
