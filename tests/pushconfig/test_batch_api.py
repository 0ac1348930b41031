"""/api/v1/push-tasks/: create with validated filters (errors naming the field), the count
preview, list (the last 7 days by default) and detail with counts and progress, the
operations and their 409s naming the status, delete, failures as JSON and as .xlsx read back,
permissions and decentralised scoping."""
import datetime as dt
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from openpyxl import load_workbook

from pushconfig import batch
from pushconfig.models import PushConfig, PushRecord, PushTask
from pushconfig.models.task import MAX_VALUES, TaskStatus, clean_filters
from tests.receivers import Answer

from .conftest import ECOLOGY_OK, deliver_all
from .test_admin_support import orgs, scoped_api
from .test_batch_support import EN, english, make_task, run_to_end, world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
__all__ = ["english", "orgs", "world"]  # fixtures, imported to be used by name

URL = "/api/v1/push-tasks/"


def post(client, path, data=None):
    return client.post(URL + path, json.dumps(data if data is not None else {}),
                       content_type="application/json", **EN)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Tasks are run by the tests themselves (run_to_end), never by a broker."""
    monkeypatch.setattr(batch, "start", lambda task_id: None)


# -- creating ------------------------------------------------------------------------------------
def test_it_creates_a_task_and_starts_it_when_the_request_commits(
        api, world, monkeypatch, django_capture_on_commit_callbacks):
    started = []
    monkeypatch.setattr(batch, "start", started.append)
    with django_capture_on_commit_callbacks(execute=True):
        r = post(api, "", {"mode": "realtime", "config": world.pk,
                           "filters": {"receiver": ["lisi", "wangwu"], "data_set": ["todo"]}})
    assert r.status_code == 201, r.content
    body = r.json()
    task = PushTask.objects.get(pk=body["id"])
    assert started == [task.pk]
    assert body["status"] == "initialised" and body["created_by"] == "admin"
    assert body["total"] == 3 and body["progress"] == 0
    assert body["filters"] == {"receiver": ["lisi", "wangwu"], "data_set": ["todo"]}
    assert body["conditions"] == "receiver: lisi, wangwu; data set: Todo"
    assert task.created_by.username == "admin" and task.config == world


def test_it_creates_an_empty_task_finished_at_once(api, world):
    r = post(api, "", {"mode": "history", "config": world.pk})
    assert r.status_code == 201
    assert (r.json()["status"], r.json()["total"], r.json()["progress"]) == ("succeeded", 0, 100)


@pytest.mark.parametrize(("body", "errors"), [
    ({"mode": "weekly", "config": "CONFIG"}, {"mode"}),
    ({"mode": "realtime"}, {"config"}),
    ({"mode": "realtime", "config": 99999}, {"config"}),
    ({"mode": "realtime", "config": "CONFIG", "priority": 1}, {"priority"}),
    ({"mode": "realtime", "config": "CONFIG", "filters": "receiver=lisi"}, {"filters"}),
])
def test_it_refuses_a_bad_task_naming_the_field(api, world, body, errors):
    body = {k: (world.pk if v == "CONFIG" else v) for k, v in body.items()}
    r = post(api, "", body)
    assert r.status_code == 400, r.content
    assert set(r.json()) == errors
    assert not PushTask.objects.exists()


@pytest.mark.parametrize(("mode", "filters", "field", "says"), [
    ("realtime", {"receiver": [True]}, "receiver", "list of ids"),
    ("realtime", {"creator": ["x" * 65]}, "creator", "at most 64"),
    ("realtime", {"request_id": {"a": 1}}, "request_id", "list of ids"),
    ("realtime", {"workflow_type": ["wt-nope"]}, "workflow_type", "No such workflow type: wt-nope"),
    ("realtime", {"workflow_type": ["wt\x00"]}, "workflow_type", "Null characters"),
    ("realtime", {"workflow_type": ["\ud800"]}, "workflow_type", "unpaired surrogate"),
    ("realtime", {"receiver": ["\ud800"]}, "receiver", "unpaired surrogate"),
    ("realtime", {"data_set": ["over"]}, "data_set", "todo, done"),
    ("history", {"data_set": ["closed"]}, "data_set", "todo, done, over, delete"),
    ("history", {"created_after": "yesterday"}, "created_after", "ISO 8601"),
    ("history", {"created_after": "0001-01-01T00:00:00+08:00"}, "created_after", "out of range"),
    ("history", {"created_before": "9999-12-31T23:59:59-08:00"}, "created_before",
     "out of range"),
    ("history", {"created_after": "2026-11-02", "created_before": "2026-11-01"},
     "created_before", "later than"),
    ("history", {"colour": "blue"}, "colour", "Unknown filter"),
])
def test_it_refuses_bad_filters_naming_each(api, world, mode, filters, field, says):
    r = post(api, "", {"mode": mode, "config": world.pk, "filters": filters})
    assert r.status_code == 400, r.content
    errors = r.json()["filters"]
    assert list(errors) == [field]
    assert says in errors[field][0]


def test_it_counts_workflow_types_before_looking_them_up(django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(ValidationError) as refused:
        clean_filters("realtime", {"workflow_type": [f"wt-{n}" for n in range(MAX_VALUES + 1)]})
    assert refused.value.message_dict == {"workflow_type": [f"At most {MAX_VALUES} values."]}


def test_it_refuses_a_disabled_config(api, world):
    PushConfig.objects.filter(pk=world.pk).update(enabled=False)
    r = post(api, "", {"mode": "realtime", "config": world.pk})
    assert r.status_code == 400 and "is disabled" in r.json()["config"][0]


def test_it_refuses_malformed_bodies_with_a_400(api, world):
    for body in ([1, 2], "text", None):
        r = api.post(URL, json.dumps(body), content_type="application/json", **EN)
        assert r.status_code == 400, (body, r.content)
    r = api.post(URL, "{not json", content_type="application/json", **EN)
    assert r.status_code == 400


# -- the count preview ---------------------------------------------------------------------------
def test_it_previews_how_many_items_match(api, world):
    r = post(api, "preview", {"mode": "realtime", "config": world.pk,
                              "filters": {"creator": ["zhangsan"]}})
    assert r.status_code == 200 and r.json() == {"count": 4}
    r = post(api, "preview", {"mode": "history", "config": world.pk})
    assert r.json() == {"count": 0}
    assert not PushTask.objects.exists()  # nothing created
    r = post(api, "preview", {"mode": "realtime", "config": world.pk,
                              "filters": {"data_set": ["delete"]}})
    assert r.status_code == 400 and list(r.json()["filters"]) == ["data_set"]


# -- reading -------------------------------------------------------------------------------------
def test_it_lists_the_last_seven_days_unless_asked_for_more(api, world):
    recent = make_task(world, "realtime")
    old = make_task(world, "realtime")
    PushTask.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=8))
    ids = [t["id"] for t in api.get(URL, **EN).json()["results"]]
    assert ids == [recent.pk]
    since = (timezone.now() - dt.timedelta(days=9)).date().isoformat()
    ids = [t["id"] for t in api.get(URL, {"since": since}, **EN).json()["results"]]
    assert ids == [old.pk, recent.pk]  # newest first
    r = api.get(URL, {"since": "last week"}, **EN)
    assert r.status_code == 400 and "since" in r.json()


def test_it_lists_and_details_counts_and_progress(api, world, receiver):
    receiver.answer = lambda got: Answer(status=404, body={"message": "no such user"}) if (
        got.json()["receiver"] == "lisi") else Answer(body=ECOLOGY_OK)
    task = run_to_end(make_task(world, "realtime"))
    listed = api.get(URL, {"status": "failed"}, **EN).json()["results"]
    assert [t["id"] for t in listed] == [task.pk]
    row = listed[0]
    assert (row["total"], row["done"], row["failed"], row["pending"], row["progress"]) == (
        6, 4, 2, 0, 100)
    detail = api.get(f"{URL}{task.pk}/", **EN).json()
    assert {k: detail[k] for k in ("done", "failed", "status")} == {
        "done": 4, "failed": 2, "status": "failed"}
    assert detail["started_at"] and detail["finished_at"]
    assert api.get(URL, {"status": "running"}, **EN).json()["results"] == []
    assert api.get(URL, {"mode": "history"}, **EN).json()["results"] == []
    assert len(api.get(URL, {"config": world.pk}, **EN).json()["results"]) == 1


def test_it_shows_progress_while_a_task_runs(api, world, receiver, settings):
    settings.BATCH_CHUNK_SIZE = 4
    task = make_task(world, "realtime")
    token, _countdown = batch.advance(task.pk)
    deliver_all(world)
    body = api.get(f"{URL}{task.pk}/", **EN).json()
    assert (body["status"], body["done"], body["pending"], body["progress"]) == (
        "running", 4, 0, 66)


# -- operations ----------------------------------------------------------------------------------
def test_it_pauses_resumes_cancels_and_refuses_with_409s_naming_the_status(api, world):
    task = make_task(world, "realtime")
    r = post(api, f"{task.pk}/pause")
    assert r.status_code == 200 and r.json()["status"] == "paused"
    r = post(api, f"{task.pk}/pause")
    assert r.status_code == 409
    assert r.json() == {"status": "paused", "detail": (
        f"Batch push task #{task.pk} is Paused: only an initialised or running task can be "
        "paused.")}
    r = post(api, f"{task.pk}/retry")
    assert r.status_code == 409 and "only a failed task can be retried" in r.json()["detail"]
    r = post(api, f"{task.pk}/resume")
    assert r.status_code == 200 and r.json()["status"] == "running"
    r = post(api, f"{task.pk}/resume")
    assert r.status_code == 409 and r.json()["status"] == "running"
    r = post(api, f"{task.pk}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["records"] == 0
    r = post(api, f"{task.pk}/cancel")
    assert r.status_code == 409 and "is Cancelled" in r.json()["detail"]


def test_it_retries_the_failed_part_over_the_api(api, world, receiver):
    receiver.answer = Answer(status=400, body={"message": "bad"})
    task = run_to_end(make_task(world, "realtime", receiver=["lisi"]))
    receiver.answer = Answer(body=ECOLOGY_OK)
    r = post(api, f"{task.pk}/retry")
    assert r.status_code == 200 and (r.json()["status"], r.json()["records"]) == ("running", 2)
    run_to_end(task)
    assert api.get(f"{URL}{task.pk}/", **EN).json()["status"] == "succeeded"


def test_it_deletes_a_task_but_not_a_running_one(api, world, receiver, settings):
    settings.BATCH_CHUNK_SIZE = 2
    running = make_task(world, "realtime")
    batch.advance(running.pk)
    r = api.delete(f"{URL}{running.pk}/", **EN)
    assert r.status_code == 409
    assert r.json()["detail"].endswith("pause or cancel it before deleting it.")
    done = run_to_end(make_task(world, "realtime", receiver=["sunqi"]))
    assert api.delete(f"{URL}{done.pk}/", **EN).status_code == 204
    assert not PushTask.objects.filter(pk=done.pk).exists()
    assert PushRecord.objects.filter(kind="realtime", receiver="sunqi", task=None).count() == 2
    assert api.delete(f"{URL}{done.pk}/", **EN).status_code == 404


# -- failures ------------------------------------------------------------------------------------
@pytest.fixture
def failed_task(world, receiver):
    """lisi is refused with HTTP 404, sunqi by an e-cology answer; the rest succeed."""
    def answer(got):
        who = got.json()["receiver"]
        if who == "lisi":
            return Answer(status=404, body={"message": "no such user"})
        if who == "sunqi":
            return Answer(body={**ECOLOGY_OK, "operResult": "0", "message": "用户不存在"})
        return Answer(body=ECOLOGY_OK)

    receiver.answer = answer
    task = run_to_end(make_task(world, "realtime"))
    assert task.status == TaskStatus.FAILED
    return task


def test_it_lists_a_tasks_failures(api, failed_task):
    body = api.get(f"{URL}{failed_task.pk}/failures", **EN).json()
    rows = body["results"]
    assert sorted((r["request_id"], r["receiver"]) for r in rows) == [
        ("2001", "lisi"), ("2002", "lisi"), ("2002", "sunqi"), ("2003", "sunqi")]
    by_receiver = {r["receiver"]: r for r in rows}
    assert by_receiver["lisi"]["last_http_status"] == 404
    assert by_receiver["sunqi"]["last_http_status"] == 200
    assert "用户不存在" in by_receiver["sunqi"]["reason"]
    page = api.get(f"{URL}{failed_task.pk}/failures/", {"page_size": 3}, **EN).json()
    assert len(page["results"]) == 3 and page["next"]
    assert len(api.get(page["next"], **EN).json()["results"]) == 1


def test_it_exports_the_failures_as_a_spreadsheet(api, failed_task):
    r = api.get(f"{URL}{failed_task.pk}/failures.xlsx", **EN)
    assert r.status_code == 200
    assert r["Content-Type"] == batch.XLSX
    assert f'filename="push-task-{failed_task.pk}-failures.xlsx"' in r["Content-Disposition"]
    assert r.streaming
    sheet = load_workbook(io.BytesIO(b"".join(r.streaming_content)), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("push record", "request id", "receiver", "data set", "business status",
                       "reason", "last HTTP status", "time")
    failures = list(batch.failures_of(failed_task).order_by("id"))
    assert [row[0] for row in rows[1:]] == [f.pk for f in failures]
    for row, record in zip(rows[1:], failures, strict=True):
        assert row[1:6] == (record.request_id, record.receiver, "Todo", "Arrive", record.reason)
        assert isinstance(row[7], dt.datetime)
        # Read back, a spreadsheet time is rounded to the millisecond, which can carry it
        # into the next second: compare with the exact moment, not a truncated one.
        expected = timezone.localtime(record.pushed_at).replace(tzinfo=None)
        assert abs((row[7] - expected).total_seconds()) < 0.01
    assert {row[2]: row[6] for row in rows[1:]} == {"lisi": 404, "sunqi": 200}


def test_it_exports_a_formula_like_reason_as_text(api, failed_task):
    """Kept as text, never a formula; a control character a sheet cannot hold is dropped."""
    PushRecord.objects.filter(task=failed_task, receiver="lisi").update(reason="=1+1\x07")
    r = api.get(f"{URL}{failed_task.pk}/failures.xlsx", **EN)
    sheet = load_workbook(io.BytesIO(b"".join(r.streaming_content))).active
    reasons = [sheet.cell(row=n, column=6) for n in range(2, sheet.max_row + 1)]
    formula_like = [cell for cell in reasons if cell.value == "=1+1"]
    assert len(formula_like) == 2 and {cell.data_type for cell in formula_like} == {"s"}


def test_it_exports_an_empty_sheet_when_nothing_failed(api, world, receiver):
    task = run_to_end(make_task(world, "realtime"))
    r = api.get(f"{URL}{task.pk}/failures.xlsx", **EN)
    rows = list(load_workbook(io.BytesIO(b"".join(r.streaming_content))).active.values)
    assert len(rows) == 1 and rows[0][1] == "request id"


def test_it_reads_the_failures_in_chunks(api, failed_task, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(batch, "EXPORT_CHUNK", 3)
    with CaptureQueriesContext(connection) as queries:
        r = api.get(f"{URL}{failed_task.pk}/failures.xlsx", **EN)
        b"".join(r.streaming_content)
    reads = [q["sql"] for q in queries.captured_queries
             if '"pushconfig_pushattempt"' in q["sql"] and "LIMIT 3" in q["sql"]]
    assert len(reads) == 3  # 4 failures in 3s: two chunks and the empty end


# -- permissions and scoping ---------------------------------------------------------------------
def test_it_needs_the_model_permissions(world, outsider_api, operator_api):
    task = make_task(world, "realtime")
    create = {"mode": "realtime", "config": world.pk}
    assert outsider_api.get(URL, **EN).status_code == 403
    assert post(outsider_api, "", create).status_code == 403
    assert post(outsider_api, "preview", create).status_code == 403
    viewer = operator_api("pushconfig.view_pushtask")
    assert viewer.get(URL, **EN).status_code == 200
    assert viewer.get(f"{URL}{task.pk}/failures.xlsx", **EN).status_code == 200
    assert post(viewer, "", create).status_code == 403
    assert post(viewer, f"{task.pk}/pause").status_code == 403
    assert viewer.delete(f"{URL}{task.pk}/", **EN).status_code == 403
    maker = operator_api("pushconfig.view_pushtask", "pushconfig.add_pushtask")
    assert post(maker, "preview", create).status_code == 200
    assert post(maker, "", create).status_code == 201
    changer = operator_api("pushconfig.view_pushtask", "pushconfig.change_pushtask")
    assert post(changer, f"{task.pk}/pause").status_code == 200
    deleter = operator_api("pushconfig.view_pushtask", "pushconfig.delete_pushtask")
    assert deleter.delete(f"{URL}{task.pk}/", **EN).status_code == 204


def test_a_scoped_administrator_sees_and_creates_only_its_organizations_tasks(
        world, orgs, settings):
    from django.contrib.auth.models import Permission, User

    settings.DECENTRALISED_ADMIN = True
    north, south = orgs
    PushConfig.objects.filter(pk=world.pk).update(organization=south)
    theirs = make_task(world, "realtime")
    client = scoped_api(north)
    user = User.objects.get(username="north-admin")
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="pushconfig", codename__endswith="_pushtask"))
    assert client.get(URL, **EN).json()["results"] == []
    assert client.get(f"{URL}{theirs.pk}/", **EN).status_code == 404
    assert post(client, f"{theirs.pk}/pause").status_code == 404
    r = post(client, "", {"mode": "realtime", "config": world.pk})
    assert r.status_code == 400 and "config" in r.json()
    assert PushTask.objects.count() == 1


def test_it_is_documented_in_the_schema(client):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = json.loads(r.content)["paths"]
    for path in ("/api/v1/push-tasks/", "/api/v1/push-tasks/preview/",
                 "/api/v1/push-tasks/{id}/pause/", "/api/v1/push-tasks/{id}/failures/",
                 "/api/v1/push-tasks/{id}/failures.xlsx/"):
        assert path in paths, sorted(p for p in paths if "push-tasks" in p)
