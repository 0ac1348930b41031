"""What starts flows: workflow events (after: on workers; before: while the OA waits, with the
outcome in the answer), date fields (once per record, also concurrently), schedules."""
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from actionflow import engine, schedules, triggers
from actionflow.models import ActionFlow, FlowRun, TriggerMark
from integration.models import Request, TodoItem
from tests.receivers import Answer, Receiver

from .conftest import post_workflow_events, workflow_event
from .helpers import make_flow

pytestmark = pytest.mark.django_db

CHECK_OPINION = [
    {"key": "check", "kind": "branch", "config": {
        "branches": [{"name": "has opinion", "conditions": [
            {"left": "{{ input.form_data.opinion }}", "operator": "not_empty"}], "steps": []}],
        "otherwise": ["refuse"]}},
    {"key": "refuse", "kind": "output",
     "config": {"status": "failed", "message": "请填写意见 ({{ input.node_name }})"}},
]


def before_flow(workflow, **fields):
    return make_flow("before-approval", trigger="workflow", workflow=workflow,
                      node_name="批准", moment="before", steps=CHECK_OPINION, **fields)


def test_an_after_flow_gets_a_queued_run_with_the_event_and_the_request_as_input(
        api, workflow, django_capture_on_commit_callbacks, monkeypatch):
    enqueued = []
    monkeypatch.setattr(engine, "enqueue_run", enqueued.append)
    flow = make_flow("after", trigger="workflow", workflow=workflow, node_name="", moment="after",
                      steps=CHECK_OPINION)
    with django_capture_on_commit_callbacks(execute=True):
        r = post_workflow_events(api, workflow_event("e1", moment="after", form_data={"a": 1}),
                                 workflow_event("e2", moment="before"),
                                 workflow_event("e3", moment="after", workflow_id="other"))
    assert r.status_code == 200, r.content
    [run] = FlowRun.objects.all()
    assert (run.flow, run.trigger, run.event_id, run.status) == (flow, "workflow", "e1", "queued")
    assert run.input["form_data"] == {"a": 1} and run.input["record"]["request_id"] == "req-1"
    assert enqueued == [run.pk]
    assert "flows" not in r.json()["results"][0]


def test_a_before_flow_runs_while_the_oa_waits_and_its_failure_stops_the_node(api, workflow):
    before_flow(workflow)
    r = post_workflow_events(api, workflow_event("e1", form_data={}),
                             workflow_event("e2", request_id="req-2",
                                            form_data={"opinion": "同意"}),
                             workflow_event("e3", node="提交", request_id="req-3"))
    refused, passed, other = r.json()["results"]
    assert refused["proceed"] is False
    [entry] = refused["flows"]
    assert (entry["status"], entry["message"]) == ("failed", "请填写意见 (批准)")
    assert passed["proceed"] is True and passed["flows"][0]["status"] == "success"
    assert "flows" not in other                      # another node: no flow
    assert FlowRun.objects.get(event_id="e1").inline


def test_a_repeated_before_event_is_answered_with_the_same_outcome(api, workflow):
    before_flow(workflow)
    post_workflow_events(api, workflow_event("e1"))
    again = post_workflow_events(api, workflow_event("e1")).json()["results"][0]
    assert again["outcome"] == "duplicate" and again["proceed"] is False
    assert FlowRun.objects.count() == 1


def test_a_before_flow_that_outlasts_its_time_limit_finishes_on_a_worker(api, workflow,
                                                                          monkeypatch):
    slow = Receiver(Answer(delay=2.5))
    handed = []
    monkeypatch.setattr(engine, "enqueue_run", handed.append)
    try:
        make_flow("slow", trigger="workflow", workflow=workflow, node_name="批准",
                   moment="before", before_timeout=1, steps=[
                       {"key": "first", "kind": "http", "config": {"url": slow.url}},
                       {"key": "second", "kind": "http", "config": {"url": slow.url}}])
        result = post_workflow_events(api, workflow_event("e1")).json()["results"][0]
        assert result["proceed"] is True and result["flows"][0]["status"] == "timeout"
        run = FlowRun.objects.get()
        assert run.status == "running" and handed == [run.pk]
        done = engine.execute(run.pk)                  # the worker goes on
        assert done.status == "success" and done.steps.count() == 2
    finally:
        slow.close()


def test_a_before_flow_can_stop_the_node_when_it_does_not_finish_in_time(api, workflow,
                                                                         monkeypatch):
    monkeypatch.setattr(engine, "enqueue_run", lambda run_id: None)
    slow = Receiver(Answer(delay=1.5))
    try:
        make_flow("slow", trigger="workflow", workflow=workflow, node_name="批准",
                   moment="before", before_timeout=1, block_on_timeout=True, steps=[
                       {"key": "a", "kind": "http", "config": {"url": slow.url}},
                       {"key": "b", "kind": "http", "config": {"url": slow.url}}])
        result = post_workflow_events(api, workflow_event("e1")).json()["results"][0]
        assert result["proceed"] is False
    finally:
        slow.close()


def test_late_events_and_disabled_or_unpublished_flows_start_nothing(api, workflow):
    before_flow(workflow, enabled=False)
    ActionFlow.objects.create(name="draft", trigger="workflow", workflow=workflow,
                              moment="before", enabled=True)
    result = post_workflow_events(api, workflow_event("e1")).json()["results"][0]
    assert "flows" not in result and not FlowRun.objects.exists()


# -- date-field trigger --------------------------------------------------------------------
def todo(request_id, receiver, created_at, data_set="todo", form=None):
    request = Request.objects.create(request_id=request_id, title=f"风险 {request_id}",
                                     workflow_ref="wf-risk", creator="zhangsan",
                                     form_data=form or {}, created_at=created_at)
    return TodoItem.objects.create(request=request, receiver=receiver, data_set=data_set,
                                   business_status="arrive", created_at=created_at,
                                   last_event_at=created_at, last_event_id=f"ev-{request_id}")


def overdue_flow(name="overdue", amount=1, **fields):
    values = {"record_kind": "todo_item", "date_field": "created_at", "delay_amount": amount,
              "delay_unit": "days",
              "record_filter": [{"field": "data_set", "operator": "equals", "value": "todo"}]}
    values.update(fields)
    return make_flow(name, trigger="date_field", steps=[
        {"key": "done", "kind": "output", "config": {
            "status": "success", "message": "{{ record.receiver }} {{ record.request_id }}"}}],
        **values)


def test_records_fire_once_their_date_plus_the_delay_has_passed_and_only_if_they_match():
    now = timezone.now()
    flow = overdue_flow()
    due = todo("r1", "lisi", now - timedelta(days=1, minutes=1))
    todo("r2", "wangwu", now - timedelta(hours=23))                      # not yet
    todo("r3", "zhaoliu", now - timedelta(days=3), data_set="done")     # handled
    assert triggers.fire_date_triggers(now) == 1
    [run] = FlowRun.objects.all()
    assert run.trigger == "date_field" and run.input["record"]["id"] == due.pk
    assert engine.execute(run.pk).message == "lisi r1"
    assert triggers.fire_date_triggers(now) == 0                         # never twice
    assert triggers.fire_date_triggers(now + timedelta(hours=2)) == 1    # r2 is due now


def test_one_flow_whose_pass_fails_does_not_stop_the_others(monkeypatch):
    now = timezone.now()
    broken, fine = overdue_flow("broken"), overdue_flow("fine")
    todo("r1", "lisi", now - timedelta(days=2))
    real = triggers.fire_date_flow

    def fire(flow, now=None, limit=None):
        if flow.pk == broken.pk:
            raise RuntimeError("boom")
        return real(flow, now, limit)

    monkeypatch.setattr(triggers, "fire_date_flow", fire)
    assert triggers.fire_date_triggers(now) == 1
    assert FlowRun.objects.get().flow == fine


def test_a_fired_record_stays_fired_after_its_run_is_pruned(settings):
    settings.FLOW_RUN_KEEP_DAYS = 1
    now = timezone.now()
    overdue_flow()
    todo("r1", "lisi", now - timedelta(days=2))
    triggers.fire_date_triggers(now)
    engine.execute(FlowRun.objects.get().pk)
    FlowRun.objects.update(created_at=now - timedelta(days=3))
    assert engine.prune() == 1
    assert triggers.fire_date_triggers(now) == 0 and TriggerMark.objects.count() == 1


def test_a_form_date_field_and_a_form_filter_select_requests():
    now = timezone.now()
    local = timezone.localtime(now)
    make_flow("found", trigger="date_field", record_kind="request",
               date_field="form_data.发现日期", delay_amount=2, delay_unit="days",
               record_filter=[{"field": "form_data.风险状态", "operator": "equals",
                               "value": "待处理"}],
               steps=[{"key": "o", "kind": "output", "config": {"status": "success"}}])
    fmt = "%Y-%m-%d %H:%M:%S"
    todo("old", "a", now, form={"发现日期": (local - timedelta(days=3)).strftime(fmt),
                                "风险状态": "待处理"})
    todo("handled", "b", now, form={"发现日期": (local - timedelta(days=3)).strftime(fmt),
                                    "风险状态": "已处理"})
    todo("new", "c", now, form={"发现日期": (local - timedelta(days=1)).strftime(fmt),
                                "风险状态": "待处理"})
    todo("none", "d", now, form={"风险状态": "待处理"})
    todo("epoch", "e", now, form={"发现日期": "1700000000000", "风险状态": "待处理"})
    assert triggers.fire_date_triggers(now) == 1
    assert FlowRun.objects.get().input["record"]["request_id"] == "old"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_passes_fire_each_record_once():
    now = timezone.now()
    flow = overdue_flow()
    for n in range(40):
        todo(f"r{n}", "lisi", now - timedelta(days=2))
    barrier, counts, errors = threading.Barrier(4), [], []

    def one_pass():
        try:
            barrier.wait()
            counts.append(triggers.fire_date_flow(flow, now))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_pass) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(counts) == 40 and FlowRun.objects.count() == 40
    assert TriggerMark.objects.count() == 40


def test_trigger_settings_are_checked_field_by_field(workflow):
    from django.core.exceptions import ValidationError

    cases = [
        ({"trigger": "workflow"}, {"workflow"}),
        ({"trigger": "workflow", "workflow": workflow, "moment": ""}, {"moment"}),
        ({"trigger": "date_field"}, {"record_kind"}),
        ({"trigger": "date_field", "record_kind": "todo_item", "date_field": "form_data.x"},
         {"date_field"}),
        ({"trigger": "date_field", "record_kind": "request", "date_field": "created_at",
          "record_filter": [{"field": "password", "operator": "equals", "value": 1}]},
         {"record_filter"}),
        ({"trigger": "date_field", "record_kind": "request", "date_field": "created_at",
          "record_filter": [{"field": "status", "operator": "like", "value": 1}]},
         {"record_filter"}),
        ({"trigger": "date_field", "record_kind": "todo_item", "date_field": "created_at",
          "record_filter": [{"field": "viewed", "operator": "equals", "value": "abc"}]},
         {"record_filter"}),
        ({"trigger": "schedule", "cron": "61 * * * *"}, {"cron"}),
        ({"trigger": "schedule", "cron": ""}, {"cron"}),
        ({"trigger": "called", "secrets": "[1]"}, {"secrets"}),
        ({"trigger": "called", "alert_channels": ["pigeon"]}, {"alert_channels"}),
    ]
    for fields, wrong in cases:
        flow = ActionFlow(name="x", **fields)
        with pytest.raises(ValidationError) as refused:
            flow.full_clean()
        assert set(refused.value.message_dict) == wrong, fields


# -- schedule trigger ----------------------------------------------------------------------
def test_a_schedule_flow_has_a_beat_task_that_follows_it():
    from django_celery_beat.models import PeriodicTask

    flow = make_flow("nightly", trigger="schedule", cron="0 30 2 * * ?", steps=[
        {"key": "o", "kind": "output", "config": {"status": "success"}}])
    task = PeriodicTask.objects.get(task=schedules.TASK)
    assert task.enabled and (task.crontab.minute, task.crontab.hour) == ("30", "2")
    assert task.name == "Action flow: nightly" and task.queue == "flows"
    flow.enabled = False
    flow.save()
    task.refresh_from_db()
    assert not task.enabled
    assert triggers.run_scheduled(flow.pk) is None
    flow.enabled = True
    flow.save()
    tick = timezone.now().replace(second=5)
    run = triggers.run_scheduled(flow.pk, now=tick)
    assert run.trigger == "schedule" and "fired_at" in run.input
    # The same tick delivered again (a second beat, a redelivered task) starts nothing.
    assert triggers.run_scheduled(flow.pk, now=tick.replace(second=40)) is None
    assert triggers.run_scheduled(flow.pk, now=tick + timedelta(minutes=1)) is not None
    flow.delete()
    assert not PeriodicTask.objects.filter(task=schedules.TASK).exists()
