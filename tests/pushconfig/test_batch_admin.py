"""The admin of batch push tasks: the list (last 7 days by default, counts, the progress bar
and its JSON poll), the add page with its count preview, the actions and their messages for
invalid transitions, deleting, the read-only detail, and the failures page and export."""
import datetime as dt
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from pushconfig import batch
from pushconfig.models import PushConfig, PushRecord, PushTask
from pushconfig.models.task import TaskStatus
from tests.conftest import make_user
from tests.receivers import Answer

from .conftest import ECOLOGY_OK, deliver_all
from .test_batch_support import EN, english, make_task, run_to_end, world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
__all__ = ["english", "world"]  # fixtures, imported to be used by name

CHANGELIST = reverse("admin:pushconfig_pushtask_changelist")
ADD = reverse("admin:pushconfig_pushtask_add")
PROGRESS = reverse("admin:pushconfig_pushtask_progress")
PREVIEW = reverse("admin:pushconfig_pushtask_preview")


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(batch, "start", lambda task_id: None)


@pytest.fixture
def staff(client, admin):
    client.force_login(admin)
    return client


def listed(page):
    return [int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', page)]


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def act(staff, action, *tasks):
    return staff.post(CHANGELIST, {"action": action,
                                   "_selected_action": [t.pk for t in tasks]},
                      follow=True, **EN)


# -- the list ------------------------------------------------------------------------------------
def test_it_lists_the_last_seven_days_unless_another_range_is_picked(staff, world):
    recent = make_task(world, "realtime")
    month = make_task(world, "realtime")
    old = make_task(world, "realtime")
    now = timezone.now()
    PushTask.objects.filter(pk=month.pk).update(created_at=now - dt.timedelta(days=20))
    PushTask.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=40))
    page = staff.get(CHANGELIST, **EN).content.decode()
    assert listed(page) == [recent.pk]
    assert "Last 7 days" in page
    assert listed(staff.get(CHANGELIST, {"created": "30"}, **EN).content.decode()) == [
        month.pk, recent.pk]
    assert listed(staff.get(CHANGELIST, {"created": "all"}, **EN).content.decode()) == [
        old.pk, month.pk, recent.pk]
    assert listed(staff.get(CHANGELIST, {"created": "bogus"}, **EN).content.decode()) == [
        recent.pk]


def test_it_shows_conditions_counts_and_a_progress_bar(staff, world, receiver):
    receiver.answer = lambda got: Answer(status=404) if got.json()["receiver"] == "lisi" else (
        Answer(body=ECOLOGY_OK))
    finished = run_to_end(make_task(world, "realtime", workflow_type=["wt-money"]))
    running = make_task(world, "realtime", receiver=["wangwu"])
    batch.advance(running.pk)
    page = staff.get(CHANGELIST, **EN).content.decode()
    assert "workflow type: 财务" in page and "receiver: wangwu" in page
    assert f'<span class="batch-done" data-task="{finished.pk}">3</span>' in page
    failures = reverse("admin:pushconfig_pushtask_failures", args=[finished.pk])
    assert f'data-task="{finished.pk}" href="{failures}">1</a>' in page
    assert re.search(rf'class="batch-progress" data-task="{finished.pk}" data-active="0"', page)
    assert re.search(rf'class="batch-progress" data-task="{running.pk}" data-active="1"', page)
    assert 'style="width: 100%"' in page and 'style="width: 0%"' in page
    assert PROGRESS in page  # the poll's address, for the page's script


def test_it_reads_the_counts_of_a_page_in_one_query(staff, world):
    for _ in range(2):
        make_task(world, "realtime", workflow_type=["wt-travel"])
    with CaptureQueriesContext(connection) as few:
        staff.get(CHANGELIST, **EN)
    for _ in range(6):
        make_task(world, "realtime", workflow_type=["wt-travel"])
    with CaptureQueriesContext(connection) as many:
        staff.get(CHANGELIST, **EN)
    assert len(many.captured_queries) == len(few.captured_queries)


def test_it_answers_the_progress_poll(staff, world, receiver, settings):
    settings.BATCH_CHUNK_SIZE = 4
    task = make_task(world, "realtime")
    token, _countdown = batch.advance(task.pk)
    deliver_all(world)
    body = staff.get(PROGRESS, {"ids": f"{task.pk},abc,99999,²,{'9' * 30}"}, **EN).json()
    assert body == {"tasks": [{
        "id": task.pk, "status": "running", "status_label": "Running", "total": 6,
        "written": 4, "done": 4, "failed": 0, "pending": 0, "percent": 66, "active": True,
        "title": "4 done, 0 failed, 0 waiting"}]}
    run_to_end(task, runner=token)
    body = staff.get(PROGRESS, {"ids": str(task.pk)}, **EN).json()
    assert (body["tasks"][0]["percent"], body["tasks"][0]["active"]) == (100, False)


def test_the_progress_poll_needs_the_view_permission(client, world):
    task = make_task(world, "realtime")
    client.force_login(make_user("nobody"))
    assert client.get(PROGRESS, {"ids": str(task.pk)}).status_code == 403


# -- adding --------------------------------------------------------------------------------------
def test_it_offers_the_add_form_with_a_preview_button(staff, world):
    PushConfig.objects.create(identifier="off", system_name="停用", server_url="http://x",
                              push_type="ecology")
    page = staff.get(ADD, **EN).content.decode()
    for field in ("mode", "config", "creator", "receiver", "request_id", "workflow_type",
                  "data_set", "created_after", "created_before"):
        assert f'name="{field}"' in page, field
    assert 'id="batch-preview"' in page and PREVIEW in page
    assert "差旅" in page  # workflow types to choose from
    assert "停用" not in page  # disabled configs are not offered


def form_data(config, **values):
    data = {"mode": "realtime", "config": config.pk}
    data.update(values)
    return data


def test_it_previews_the_count_of_the_add_form(staff, world):
    r = staff.post(PREVIEW, form_data(world, receiver="lisi, wangwu"), **EN)
    assert r.json() == {"count": 4, "message": "4 items match these conditions."}
    r = staff.post(PREVIEW, form_data(world, workflow_type=["wt-travel"], data_set=["todo"]),
                   **EN)
    assert r.json()["count"] == 2
    r = staff.post(PREVIEW, form_data(world, mode="history"), **EN)
    assert r.json()["count"] == 0
    r = staff.post(PREVIEW, form_data(world, data_set=["over"]), **EN)
    assert r.status_code == 400 and list(r.json()["errors"]) == ["data_set"]
    assert staff.get(PREVIEW).status_code == 405
    assert not PushTask.objects.exists()


def test_it_creates_a_task_from_the_add_form(staff, world, admin):
    r = staff.post(ADD, form_data(world, creator="zhangsan\nzhaoliu", request_id="2001 2003",
                                  created_after="2026-11-01T00:00",
                                  created_before="2026-11-30T00:00"), follow=True, **EN)
    task = PushTask.objects.get()
    assert r.redirect_chain[-1][0] == CHANGELIST
    assert task.created_by == admin and task.total == 4
    assert task.filters["creator"] == ["zhangsan", "zhaoliu"]
    assert task.filters["request_id"] == ["2001", "2003"]
    assert task.filters["created_after"].startswith("2026-11-01T00:00:00")
    assert any(f"Task #{task.pk} pushes 4 items to" in m for m in messages_of(r))


def test_it_shows_the_filter_errors_on_the_form(staff, world):
    r = staff.post(ADD, form_data(world, data_set=["delete"], created_after="2026-11-02T00:00",
                                  created_before="2026-11-01T00:00", creator="x" * 70), **EN)
    assert r.status_code == 200
    errors = r.context["adminform"].form.errors
    assert set(errors) == {"data_set", "created_before", "creator"}
    assert not PushTask.objects.exists()


def test_it_says_when_a_new_task_matched_nothing(staff, world):
    r = staff.post(ADD, form_data(world, receiver="nobody"), follow=True, **EN)
    task = PushTask.objects.get()
    assert task.status == TaskStatus.SUCCEEDED
    assert f"Nothing matched the conditions: task #{task.pk} finished at once." in messages_of(r)


def test_a_viewer_cannot_add_nor_preview(client, world):
    client.force_login(make_user("viewer", "pushconfig.view_pushtask"))
    assert client.get(ADD).status_code == 403
    assert client.post(PREVIEW, form_data(world)).status_code == 403
    assert client.get(CHANGELIST).status_code == 200


# -- actions -------------------------------------------------------------------------------------
def test_it_pauses_resumes_and_cancels_with_clear_messages(staff, world):
    task = make_task(world, "realtime")
    r = act(staff, "pause_tasks", task)
    assert "1 task was paused; it stops after its current chunk." in messages_of(r)
    r = act(staff, "pause_tasks", task)
    assert messages_of(r) == [f"Batch push task #{task.pk} is Paused: only an initialised or "
                              "running task can be paused."]
    r = act(staff, "resume_tasks", task)
    assert "1 task was resumed where it stopped." in messages_of(r)
    other = make_task(world, "realtime")
    batch.pause(other)
    r = act(staff, "cancel_tasks", task, other)
    assert "2 tasks were cancelled; their records not sent yet were withdrawn." in messages_of(r)
    r = act(staff, "retry_tasks", task)
    assert messages_of(r) == [f"Batch push task #{task.pk} is Cancelled: only a failed task "
                              "can be retried."]


def test_it_retries_the_failed_records_from_the_list(staff, world, receiver):
    receiver.answer = Answer(status=404)
    task = run_to_end(make_task(world, "realtime", receiver=["lisi"]))
    receiver.answer = Answer(body=ECOLOGY_OK)
    r = act(staff, "retry_tasks", task)
    assert "The failed records of 1 task are pushed again." in messages_of(r)
    run_to_end(task)
    assert task.status == TaskStatus.SUCCEEDED


def test_it_deletes_from_the_list_but_not_a_running_task(staff, world, receiver, settings):
    settings.BATCH_CHUNK_SIZE = 2
    running = make_task(world, "realtime")
    batch.advance(running.pk)
    done = run_to_end(make_task(world, "realtime", receiver=["sunqi"]))
    r = act(staff, "delete_tasks", running, done)
    assert messages_of(r) == [
        "1 task was deleted.",
        f"Batch push task #{running.pk} is Running: pause or cancel it before deleting it."]
    assert list(PushTask.objects.values_list("pk", flat=True)) == [running.pk]
    assert PushRecord.objects.filter(receiver="sunqi", kind="realtime", task=None).count() == 2
    actions = staff.get(CHANGELIST, **EN).context["action_form"].fields["action"].choices
    assert "delete_selected" not in dict(actions)


def test_it_deletes_a_task_from_its_page_and_refuses_a_running_one(staff, world, receiver,
                                                                   settings):
    settings.BATCH_CHUNK_SIZE = 2
    running = make_task(world, "realtime")
    batch.advance(running.pk)
    url = reverse("admin:pushconfig_pushtask_delete", args=[running.pk])
    r = staff.get(url, follow=True, **EN)
    assert r.redirect_chain[-1][0] == CHANGELIST
    assert any("pause or cancel it before deleting it" in m for m in messages_of(r))
    done = run_to_end(make_task(world, "realtime", receiver=["lisi"]))
    kept = set(PushRecord.objects.filter(task=done).values_list("id", flat=True))
    url = reverse("admin:pushconfig_pushtask_delete", args=[done.pk])
    page = staff.get(url, **EN).content.decode()
    assert "Its push records stay in the push log." in page
    staff.post(url, {"post": "yes"}, **EN)
    assert not PushTask.objects.filter(pk=done.pk).exists()
    assert len(kept) == 2 and PushRecord.objects.filter(id__in=kept, task=None).count() == 2


# -- detail and failures -------------------------------------------------------------------------
@pytest.fixture
def failed(world, receiver):
    receiver.answer = lambda got: Answer(status=404) if got.json()["receiver"] == "sunqi" else (
        Answer(body=ECOLOGY_OK))
    return run_to_end(make_task(world, "realtime", data_set=["todo"]))


def test_it_shows_a_task_read_only_with_links_to_its_failures(staff, failed):
    url = reverse("admin:pushconfig_pushtask_change", args=[failed.pk])
    r = staff.get(url, **EN)
    page = r.content.decode()
    assert r.status_code == 200 and 'name="_save"' not in page
    assert "data set: Todo" in page and "2 failed records" in page
    assert reverse("admin:pushconfig_pushtask_failures_xlsx", args=[failed.pk]) in page
    assert staff.post(url, {"mode": "history"}, **EN).status_code == 403


def test_it_lists_a_tasks_failures_and_exports_them(staff, failed):
    page = staff.get(reverse("admin:pushconfig_pushtask_failures", args=[failed.pk]),
                     **EN).content.decode()
    assert "2 records failed for good" in page
    assert page.count("The target refused the request with HTTP 404.") == 2
    assert ">404<" in page
    r = staff.get(reverse("admin:pushconfig_pushtask_failures_xlsx", args=[failed.pk]), **EN)
    assert r.status_code == 200 and r["Content-Type"] == batch.XLSX
    rows = list(load_workbook(io.BytesIO(b"".join(r.streaming_content))).active.values)
    assert [(row[1], row[2], row[6]) for row in rows[1:]] == [("2002", "sunqi", 404),
                                                              ("2003", "sunqi", 404)]


def test_it_answers_404_for_an_unknown_task(staff, db):
    assert staff.get(reverse("admin:pushconfig_pushtask_failures", args=[999])).status_code == 404
    assert staff.get(reverse("admin:pushconfig_pushtask_failures_xlsx",
                             args=[999])).status_code == 404
