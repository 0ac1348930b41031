"""Automatic ("moment") archiving through POST /api/v1/workflow-events/: the outbox written in
the inbox's transaction, enqueued on commit, swept when nobody took it, retried when the target
is in trouble, and the data of that moment exported — the seed's case included."""
import datetime as dt
import time
from contextlib import contextmanager

import pytest
from django.utils import timezone

from archiving import outbox
from archiving.models import ArchiveJob, ArchiveLog
from integration.models import Workflow
from tests.receivers import Answer

from .conftest import (
    directory_target,
    http_target,
    make_scheme,
    multipart,
    opinion,
    post_event,
    unzip,
    workflow_event,
)

pytestmark = pytest.mark.django_db


@contextmanager
def eager():
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


def run_due_jobs():
    for job_id in outbox.due_jobs().order_by("id").values_list("id", flat=True):
        outbox.run_job(job_id)


def make_due(job):
    ArchiveJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())


@pytest.fixture
def auto_scheme(workflow, tmp_path):
    """The seed's scheme: export before the approval node 批准."""
    return make_scheme(workflow, directory_target(tmp_path), name="合同-批准前",
                       trigger="moment", node_name="批准", moment="before")


def seed_flow_up_to_approval(api):
    """创建 and 提交 done, the request arriving at 批准: what the OA reports."""
    submit = [opinion("提交", "zhangsan", "请审批", minute=1)]
    post_event(api, workflow_event("创建", minute=0))
    post_event(api, workflow_event("提交", minute=1, sign_opinions=submit))
    post_event(api, workflow_event("批准", moment="before", minute=2, sign_opinions=submit))


def test_the_seeds_case_before_approval_then_a_manual_re_archive_after_the_end(
        api, auto_scheme, django_capture_on_commit_callbacks):
    with eager(), django_capture_on_commit_callbacks(execute=True):
        seed_flow_up_to_approval(api)
    first = ArchiveLog.objects.get()
    assert (first.trigger, first.outcome, first.data_source) == ("moment", "success",
                                                                 "event_snapshot")
    opinions = first.exported_data["sign_opinions.json"]
    assert [o["node_name"] for o in opinions] == ["提交"]  # nothing of 批准 yet
    assert unzip(open(first.location, "rb").read())["sign_opinions.json"] == opinions

    # The request moves on: approved, then the end node with changed form data.
    approved = [opinion("提交", "zhangsan", "请审批", 1), opinion("批准", "wangwu", "同意", 3)]
    newer_form = {"title": "采购合同", "amount": 1500, "contract_no": "HT-2026-01"}
    with eager(), django_capture_on_commit_callbacks(execute=True):
        post_event(api, workflow_event("批准", minute=3, sign_opinions=approved))
        post_event(api, workflow_event("结束", moment="before", minute=4, status="finished",
                                       sign_opinions=approved, form_data=newer_form))
    assert ArchiveLog.objects.count() == 1  # only 批准/before archives automatically

    r = api.post(f"/api/v1/archive-logs/{first.pk}/rearchive")
    assert r.status_code == 201, r.content
    again = ArchiveLog.objects.get(pk=r.json()["id"])
    assert (again.trigger, again.data_source, again.rearchive_of_id) == (
        "rearchive", "current", first.pk)
    assert again.outcome == "success"
    assert [o["node_name"] for o in again.exported_data["sign_opinions.json"]] == ["提交", "批准"]
    assert again.exported_data["form_data.json"] == newer_form
    assert again.checksum != first.checksum  # the seed: the exports may differ
    first.refresh_from_db()
    assert first.exported_data["form_data.json"] == {"title": "采购合同", "amount": 1200}


def test_the_job_is_written_in_the_inbox_transaction_and_holds_the_events_snapshot(
        api, auto_scheme):
    seed_flow_up_to_approval(api)
    job = ArchiveJob.objects.get()
    assert (job.status, job.scheme_id, job.request.request_id) == ("pending", auto_scheme.pk,
                                                                  "5001")
    assert job.snapshot["sign_opinions"][0]["node_name"] == "提交"
    assert job.snapshot["node_name"] == "批准" and job.snapshot["moment"] == "before"
    assert job.snapshot["as_of"] == "2026-11-20T10:02:00+08:00"
    # Later events change the request, not what this moment's job will export.
    post_event(api, workflow_event("批准", minute=3, form_data={"title": "改了", "amount": 9},
                                   sign_opinions=[opinion("批准", "wangwu", "同意", 3)]))
    run_due_jobs()
    entry = ArchiveLog.objects.get()
    assert entry.exported_data["form_data.json"] == {"title": "采购合同", "amount": 1200}
    assert entry.source_event_id == job.event_id


def test_an_event_without_form_data_exports_what_the_request_held(api, auto_scheme):
    post_event(api, workflow_event("提交", minute=1, form_data={"title": "旧", "amount": 1}))
    event = workflow_event("批准", moment="before", minute=2)
    del event["form_data"], event["sign_opinions"]
    post_event(api, event)
    assert ArchiveJob.objects.get().snapshot["form_data"] == {"title": "旧", "amount": 1}


@pytest.mark.parametrize("change", [
    {"node_name": "提交"}, {"moment": "after"}, {"enabled": False}, {"trigger": "flow"},
])
def test_only_enabled_automatic_schemes_at_their_node_and_moment_make_jobs(
        api, auto_scheme, change):
    for name, value in change.items():
        setattr(auto_scheme, name, value)
    auto_scheme.save()
    seed_flow_up_to_approval(api)
    assert not ArchiveJob.objects.exists()


def test_another_workflows_event_makes_no_job(api, auto_scheme):
    Workflow.objects.create(workflow_id="wf-other", name="其他")
    post_event(api, workflow_event("批准", moment="before", workflow_id="wf-other"))
    assert not ArchiveJob.objects.exists()


def test_a_repeated_event_archives_once(api, auto_scheme):
    event = workflow_event("批准", moment="before")
    post_event(api, event)
    r = post_event(api, event)
    assert r.json()["results"][0]["outcome"] == "duplicate"
    assert ArchiveJob.objects.count() == 1


def test_a_job_runs_once_however_often_it_is_delivered(api, auto_scheme):
    post_event(api, workflow_event("批准", moment="before"))
    job = ArchiveJob.objects.get()
    assert outbox.run_job(job.pk).status == "done"
    assert outbox.run_job(job.pk) is None
    assert ArchiveLog.objects.count() == 1


def test_when_the_broker_is_down_the_sweeper_archives_later(
        api, auto_scheme, django_capture_on_commit_callbacks):
    from config.celery import app

    real_url = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    app._pool = None
    try:
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            post_event(api, workflow_event("批准", moment="before"))
        took = time.monotonic() - started
    finally:
        app.conf.broker_url = real_url
        app._pool = None
    assert took < 3, took  # the OA's call does not wait on a dead broker
    job = ArchiveJob.objects.get()
    assert job.status == "pending" and not ArchiveLog.objects.exists()
    with eager():
        assert outbox.sweep() == 0  # its own enqueue may still be on the way
        ArchiveJob.objects.filter(pk=job.pk).update(
            updated_at=timezone.now() - dt.timedelta(minutes=1))
        assert outbox.sweep() == 1
    job.refresh_from_db()
    assert job.status == "done"
    assert ArchiveLog.objects.get().outcome == "success"


def test_a_job_whose_worker_died_is_taken_again_by_the_sweeper(api, auto_scheme):
    post_event(api, workflow_event("批准", moment="before"))
    job = ArchiveJob.objects.get()
    assert outbox.claim(job.pk)  # a worker took it and died
    assert outbox.run_job(job.pk) is None  # held by that worker
    expire_claim(job)
    with eager():
        assert outbox.sweep() == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 2)


class Killed(BaseException):
    """The worker process dying: nothing of the export's own error handling runs."""


@pytest.fixture
def http_scheme(workflow, receiver):
    """The seed's moment, archived to the test's HTTP receiver."""
    return make_scheme(workflow, http_target(receiver.url), trigger="moment", node_name="批准",
                       moment="before")


def expire_claim(job):
    ArchiveJob.objects.filter(pk=job.pk).update(
        claimed_until=timezone.now() - dt.timedelta(seconds=1))


def test_a_worker_killed_mid_export_leaves_one_log_row_that_the_next_claim_reuses(
        api, http_scheme, receiver, monkeypatch):
    from archiving.targets.http import HttpTarget

    real_judge = HttpTarget.judge
    calls = []

    def judge(self, response):
        calls.append(response.status_code)
        if len(calls) == 1:
            raise Killed  # the archive system stored the package; the worker died unaware
        return real_judge(self, response)

    monkeypatch.setattr(HttpTarget, "judge", judge)
    post_event(api, workflow_event("批准", moment="before"))
    job = ArchiveJob.objects.get()
    with pytest.raises(Killed):
        outbox.run_job(job.pk)
    job.refresh_from_db()
    stuck = ArchiveLog.objects.get()
    assert (job.status, job.log_id, stuck.outcome) == ("running", stuck.pk, "pending")

    expire_claim(job)  # the sweeper hands it on
    done = outbox.run_job(job.pk)
    assert (done.status, done.attempts) == ("done", 2)
    entry = ArchiveLog.objects.get()
    assert (entry.pk, entry.outcome, entry.attempts) == (stuck.pk, "success", 2)
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert keys == [f"archive-job-{job.pk}"] * 2  # the archive system can drop the repeat


def test_a_worker_that_outlived_its_lease_cannot_overwrite_the_takers_result(
        api, http_scheme, receiver, monkeypatch):
    from archiving.targets.http import HttpTarget

    answers = iter([Answer(status=503, body="busy"), Answer(body={"code": "0"})])
    receiver.answer = lambda got: next(answers)
    real_judge = HttpTarget.judge
    taker = []

    def judge(self, response):
        if response.status_code == 503:
            # The first worker is still waiting for its answer when its lease runs out and
            # another worker takes the job and archives it.
            expire_claim(job)
            taker.append(outbox.run_job(job.pk))
        return real_judge(self, response)

    monkeypatch.setattr(HttpTarget, "judge", judge)
    post_event(api, workflow_event("批准", moment="before"))
    job = ArchiveJob.objects.get()
    assert outbox.run_job(job.pk) is None  # its late 503 changes nothing
    assert taker[0].status == "done"
    job.refresh_from_db()
    entry = ArchiveLog.objects.get()
    assert (job.status, job.attempts, job.next_attempt_at, job.log_id) == (
        "done", 2, None, entry.pk)
    assert (entry.outcome, entry.attempts, entry.http_status) == ("success", 2, 200)


def test_a_worker_stalled_before_sending_leaves_the_takers_log_row_alone(
        api, auto_scheme, monkeypatch):
    real_open_log = outbox.open_log
    taker = []

    def open_log(job):
        entry = real_open_log(job)
        if job.attempts == 1:  # stalled past its lease right here; another worker archives it
            expire_claim(job)
            taker.append(outbox.run_job(job.pk))
        return entry

    monkeypatch.setattr(outbox, "open_log", open_log)
    post_event(api, workflow_event("批准", moment="before"))
    job = ArchiveJob.objects.get()
    assert outbox.run_job(job.pk) is None
    assert taker[0].status == "done"
    entry = ArchiveLog.objects.get()
    assert (entry.outcome, entry.attempts) == ("success", 1)  # not reset to pending


def test_a_job_lease_shorter_than_one_upload_is_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    from archiving import conf

    settings.ARCHIVE_CONNECT_TIMEOUT, settings.ARCHIVE_READ_TIMEOUT = 5, 60
    settings.ARCHIVE_JOB_LEASE_SECONDS = 65
    conf.check_lease()
    settings.ARCHIVE_JOB_LEASE_SECONDS = 64
    with pytest.raises(ImproperlyConfigured, match="ARCHIVE_JOB_LEASE_SECONDS=64"):
        conf.check_lease()


def test_a_transient_failure_is_retried_with_backoff_on_the_same_log_row(
        api, http_scheme, receiver, settings):
    settings.ARCHIVE_RETRY_BASE_SECONDS = 30
    answers = iter([Answer(status=503, body="busy"), Answer(body={"code": "0"})])
    receiver.answer = lambda got: next(answers)
    post_event(api, workflow_event("批准", moment="before"))
    job = ArchiveJob.objects.get()
    before = timezone.now()
    outbox.run_job(job.pk)
    job.refresh_from_db()
    entry = ArchiveLog.objects.get()
    assert (job.status, job.attempts) == ("pending", 1)
    assert before + dt.timedelta(seconds=29) < job.next_attempt_at
    assert (entry.outcome, entry.permanent) == ("failed", False)
    assert outbox.run_job(job.pk) is None  # not due yet
    make_due(job)
    outbox.run_job(job.pk)
    job.refresh_from_db()
    entry.refresh_from_db()
    assert (job.status, entry.outcome, entry.attempts) == ("done", "success", 2)
    assert ArchiveLog.objects.count() == 1
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert keys == [f"archive-job-{job.pk}"] * 2
    fields, _files = multipart(receiver.requests[1])
    assert fields["request_id"] == "5001"


def test_it_gives_up_after_the_last_attempt(api, http_scheme, receiver, settings):
    settings.ARCHIVE_MAX_ATTEMPTS = 2
    receiver.answer = Answer(status=502)
    post_event(api, workflow_event("批准", moment="before"))
    job = ArchiveJob.objects.get()
    outbox.run_job(job.pk)
    make_due(job)
    outbox.run_job(job.pk)
    job.refresh_from_db()
    entry = ArchiveLog.objects.get()
    assert (job.status, job.attempts, entry.attempts) == ("failed", 2, 2)
    assert "gave up after 2 attempts" in entry.message


def test_a_permanent_failure_is_not_retried(api, http_scheme, receiver):
    receiver.answer = Answer(status=400, body={"msg": "bad"})
    post_event(api, workflow_event("批准", moment="before"))
    job = outbox.run_job(ArchiveJob.objects.get().pk)
    assert job.status == "failed" and job.next_attempt_at is None
    assert ArchiveLog.objects.get().permanent is True


def test_a_required_field_missing_at_the_moment_fails_naming_it(api, auto_scheme):
    post_event(api, workflow_event("批准", moment="before", form_data={"amount": 3}))
    outbox.run_job(ArchiveJob.objects.get().pk)
    entry = ArchiveLog.objects.get()
    assert (entry.outcome, entry.permanent) == ("failed", True)
    assert "title" in entry.message
    assert entry.exported_data["form_data.json"] == {"amount": 3}


def test_a_scheme_disabled_before_its_job_runs_does_not_archive(api, auto_scheme):
    post_event(api, workflow_event("批准", moment="before"))
    auto_scheme.enabled = False
    auto_scheme.save()
    job = outbox.run_job(ArchiveJob.objects.get().pk)
    entry = ArchiveLog.objects.get()
    assert job.status == "failed"
    assert (entry.outcome, entry.package_name) == ("failed", "")
    assert "disabled" in entry.message


def test_the_sweeper_is_a_beat_schedule_and_tasks_go_to_the_archive_queue(db):
    from django_celery_beat.models import PeriodicTask

    from archiving.apps import ensure_schedules
    from config.celery import app

    ensure_schedules(sender=None)
    task = PeriodicTask.objects.get(name="Archive outbox sweeper")
    assert (task.task, task.queue, task.interval.every) == ("archiving.tasks.sweep", "archive", 60)
    for name in ("archiving.tasks.run_job", "archiving.tasks.sweep"):
        assert app.amqp.router.route({}, name, (), {})["queue"].name == "archive"
