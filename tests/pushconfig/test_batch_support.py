"""Helpers shared by the batch push task tests: a small world of todos (through the real
inbox), tasks created as the admin and the API create them, and a runner that plays the
batch worker and the push workers step by step."""
import pytest
from django.utils import translation

from integration.models import Workflow, WorkflowType
from pushconfig import batch
from pushconfig.models import PushRecord, PushTask
from pushconfig.models.task import clean_filters

from .conftest import deliver_all, make_config, post_events
from .test_admin_support import todo

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def english():
    """Messages made outside a request (refusals, reasons written by the push workers) in
    English, whatever the console's default language, so that tests can read them."""
    with translation.override("en"):
        yield


def make_task(config, mode="realtime", user=None, **filters):
    """A task as the admin and the API make one: filters cleaned, then launched."""
    task = PushTask(mode=mode, config=config, filters=clean_filters(mode, filters),
                    created_by=user)
    return batch.launch(task)


def run_to_end(task, deliver=True, steps=200, runner=None):
    """Play the batch worker (one run_task message after the other, each with the token the
    previous one handed on, starting from `runner`'s) and the push workers, until the task
    stops."""
    for _ in range(steps):
        runner, countdown = batch.advance(task.pk, runner)
        if deliver:
            deliver_all(task.config)
        if countdown is None:
            break
    task.refresh_from_db()
    return task


def records_of(task):
    return PushRecord.objects.filter(task=task).order_by("id")


def source_ids(task):
    """The source ids a task's records came from (the tail of their idempotency keys)."""
    return sorted(int(key.rsplit(":", 1)[1]) for key in
                  records_of(task).values_list("idempotency_key", flat=True))


@pytest.fixture
def world(api, receiver):
    """Two workflow types; six todos of three requests by two creators to three receivers
    (one of them done), pushed live to a disabled-then-enabled config so that the push log
    holds nothing yet: realtime tasks start from the todo items alone."""
    travel = WorkflowType.objects.create(external_id="wt-travel", name="差旅")
    money = WorkflowType.objects.create(external_id="wt-money", name="财务")
    Workflow.objects.create(workflow_id="wf-travel", name="出差申请", workflow_type=travel)
    Workflow.objects.create(workflow_id="wf-pay", name="付款申请", workflow_type=money)
    config = make_config(receiver.url, enabled=False)
    post_events(
        api,
        todo(1, request_id="2001", receiver="lisi", creator="zhangsan", workflow_id="wf-travel",
             created_at="2026-11-01T09:00:00+08:00"),
        todo(2, request_id="2001", receiver="wangwu", creator="zhangsan",
             workflow_id="wf-travel", created_at="2026-11-01T09:00:00+08:00"),
        todo(3, request_id="2002", receiver="lisi", creator="zhaoliu", workflow_id="wf-pay",
             created_at="2026-11-10T09:00:00+08:00"),
        todo(4, request_id="2002", receiver="sunqi", creator="zhaoliu", workflow_id="wf-pay",
             created_at="2026-11-10T09:00:00+08:00"),
        todo(5, request_id="2003", receiver="wangwu", creator="zhangsan", workflow_id="wf-pay",
             created_at="2026-11-15T09:00:00+08:00"),
        todo(6, request_id="2003", receiver="wangwu", creator="zhangsan", workflow_id="wf-pay",
             data_set="done", business_status="approve",
             created_at="2026-11-15T09:00:00+08:00"),
        todo(7, request_id="2003", receiver="sunqi", creator="zhangsan", workflow_id="wf-pay",
             created_at="2026-11-15T09:00:00+08:00"),
    )
    config.enabled = True
    config.save()
    return config
