"""The admin of archive integration: targets (per-kind parameters, write-only token,
connection test), schemes (mapping and node validation, the id shown), the archive log (no
COUNT, filters, exact search, read-only detail, manual re-archive) and the job outbox."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from archiving.models import ArchiveJob, ArchiveLog, ArchiveScheme, ArchiveTarget
from archiving.service import export, rearchive
from integration.models import Request
from tests.conftest import make_user
from tests.receivers import Answer

from .conftest import WORKFLOW_ID, directory_target, http_target, make_scheme, opinion

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
LOG_LIST = "admin:archiving_archivelog_changelist"


@pytest.fixture
def staff(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def request_5001(workflow):
    return Request.objects.create(
        request_id="5001", title="采购合同", workflow=workflow, workflow_ref=WORKFLOW_ID,
        creator="zhangsan", form_data={"title": "采购合同", "amount": 1200},
        sign_opinions=[opinion("提交", "zhangsan", "请审批")])


def row_ids(page):
    return set(map(int, re.findall(r'name="_selected_action" value="(\d+)"', page)))


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


# -- targets -----------------------------------------------------------------------------------
def target_form(**values):
    form = {"name": "档案系统", "kind": "http", "http__url": "", "http__file_field": "",
            "http__token_header": "", "http__extra_fields": "", "http__success_path": "",
            "http__success_value": "", "http__message_path": "", "directory__base_dir": "",
            "secret": ""}
    form.update(values)
    return form


def test_a_target_is_added_with_its_kinds_parameters_and_an_encrypted_token(staff, receiver):
    r = staff.post(reverse("admin:archiving_archivetarget_add"), target_form(
        http__url=receiver.url + "/upload", http__token_header="Authorization",
        http__extra_fields='{"fondsCode": "F001"}', http__success_path="code",
        http__success_value="0", secret="Bearer abcdefghijklmnop-9876"), **EN)
    assert r.status_code == 302, r.content.decode()[:3000]
    target = ArchiveTarget.objects.get()
    assert target.params == {"url": receiver.url + "/upload", "file_field": "file",
                             "token_header": "Authorization",
                             "extra_fields": {"fondsCode": "F001"}, "success_path": "code",
                             "success_value": "0", "message_path": ""}
    assert target.secret == "Bearer abcdefghijklmnop-9876"
    page = staff.get(reverse("admin:archiving_archivetarget_change", args=[target.pk]),
                     **EN).content.decode()
    assert "abcdefghijklmnop" not in page and "••••••9876" in page


def test_a_blank_token_keeps_the_stored_one_when_editing(staff, receiver):
    target = http_target(receiver.url, secret="Bearer s3cret", token_header="Authorization")
    r = staff.post(reverse("admin:archiving_archivetarget_change", args=[target.pk]),
                   target_form(name="改名", http__url=receiver.url,
                               http__token_header="Authorization"), **EN)
    assert r.status_code == 302
    target.refresh_from_db()
    assert (target.name, target.secret) == ("改名", "Bearer s3cret")


@pytest.mark.parametrize("values, field", [
    ({"kind": "directory", "directory__base_dir": "relative"}, "directory__base_dir"),
    ({"kind": "http", "http__url": "ftp://archive.example/x"}, "http__url"),
    ({"kind": "http", "http__url": "http://archive.example/u", "secret": "t"},
     "http__token_header"),
    ({"kind": "directory", "directory__base_dir": "/tmp", "secret": "t"}, "secret"),
])
def test_refused_parameters_are_shown_on_their_field(staff, values, field):
    r = staff.post(reverse("admin:archiving_archivetarget_add"), target_form(**values), **EN)
    assert r.status_code == 200
    assert field in r.context["adminform"].form.errors
    assert not ArchiveTarget.objects.exists()


def test_the_connection_test_action_reports_each_target(staff, receiver, tmp_path):
    receiver.answer = Answer(status=403)
    bad = http_target(receiver.url, name="远端")
    good = directory_target(tmp_path, name="本地目录")
    r = staff.post(reverse("admin:archiving_archivetarget_changelist"),
                   {"action": "test_connections", "_selected_action": [bad.pk, good.pk]},
                   follow=True, **EN)
    said = messages_of(r)
    assert any(m.startswith("远端: connection test failed") and "403" in m for m in said)
    assert any(m.startswith("本地目录: The base directory") for m in said)


# -- schemes -----------------------------------------------------------------------------------
def scheme_form(workflow, target, **values):
    form = {"name": "合同归档", "enabled": "on", "target": target.pk, "workflow": workflow.pk,
            "node_name": "批准", "moment": "before", "trigger": "flow",
            "field_mapping": '[{"form_field": "title", "metadata_key": "题名"}]',
            "include_sign_opinions": "on"}
    form.update(values)
    return form


def test_a_scheme_is_added_and_its_id_shown(staff, workflow, tmp_path):
    target = directory_target(tmp_path)
    r = staff.post(reverse("admin:archiving_archivescheme_add"), scheme_form(workflow, target),
                   **EN)
    assert r.status_code == 302, r.content.decode()[:2000]
    scheme = ArchiveScheme.objects.get()
    assert scheme.field_mapping == [{"form_field": "title", "metadata_key": "题名",
                                     "required": False}]
    page = staff.get(reverse("admin:archiving_archivescheme_change", args=[scheme.pk]),
                     **EN).content.decode()
    assert str(scheme.pk) in page
    assert "metadata_key" in page  # the mapping's help and example


@pytest.mark.parametrize("values, field", [
    ({"field_mapping": '{"title": "题名"}'}, "field_mapping"),
    ({"field_mapping": '[{"form_field": "title"}]'}, "field_mapping"),
    ({"field_mapping": "not json"}, "field_mapping"),
    ({"node_name": "董事会"}, "node_name"),
])
def test_a_bad_mapping_or_node_is_shown_on_its_field(staff, workflow, tmp_path, values, field):
    r = staff.post(reverse("admin:archiving_archivescheme_add"),
                   scheme_form(workflow, directory_target(tmp_path), **values), **EN)
    assert r.status_code == 200
    assert field in r.context["adminform"].form.errors
    assert not ArchiveScheme.objects.exists()


def test_schemes_are_enabled_and_disabled_in_bulk(staff, workflow, tmp_path):
    target = directory_target(tmp_path)
    schemes = [make_scheme(workflow, target, enabled=False) for _ in range(2)]
    staff.post(reverse("admin:archiving_archivescheme_changelist"),
               {"action": "enable_selected", "_selected_action": [s.pk for s in schemes]})
    assert set(ArchiveScheme.objects.values_list("enabled", flat=True)) == {True}


# -- the archive log ---------------------------------------------------------------------------
@pytest.fixture
def logs(request_5001, workflow, tmp_path):
    target = directory_target(tmp_path)
    scheme = make_scheme(workflow, target, name="合同归档")
    other = make_scheme(workflow, target, name="其他", field_mapping=[
        {"form_field": "nope", "metadata_key": "x", "required": True}])
    rows = [export(scheme, request_5001, "flow") for _ in range(60)]
    rows.append(export(other, request_5001, "api"))
    return scheme, other, rows


def counts_of_the_log(queries):
    return [q["sql"] for q in queries
            if "COUNT(" in q["sql"].upper() and "archiving_archivelog" in q["sql"]]


def test_the_log_pages_and_filters_without_counting(staff, logs):
    scheme, other, rows = logs
    url = reverse(LOG_LIST)
    with CaptureQueriesContext(connection) as queries:
        first = staff.get(url, **EN)
        by_filters = staff.get(url, {"scheme": other.pk, "outcome__exact": "failed",
                                     "trigger__exact": "api",
                                     "created_at__gte": "2000-01-01 00:00:00+00:00"}, **EN)
        searched = staff.get(url, {"q": "5001"}, **EN)
    assert counts_of_the_log(queries.captured_queries) == []
    assert len(row_ids(first.content.decode())) == 50
    assert row_ids(by_filters.content.decode()) == {rows[-1].pk}
    assert len(row_ids(searched.content.decode())) == 50
    assert row_ids(staff.get(url, {"q": "500"}).content.decode()) == set()  # exact only


def test_a_log_row_is_read_only_and_shows_the_data_as_exported(staff, logs):
    entry = logs[2][0]
    url = reverse("admin:archiving_archivelog_change", args=[entry.pk])
    page = staff.get(url, **EN).content.decode()
    assert "采购合同" in page and entry.checksum in page
    assert staff.post(url, {"message": "changed"}).status_code == 403
    assert staff.get(reverse("admin:archiving_archivelog_add")).status_code == 403


def test_re_archive_in_the_admin_makes_new_linked_rows_with_current_data(staff, logs,
                                                                        request_5001):
    scheme, other, rows = logs
    Request.objects.filter(pk=request_5001.pk).update(form_data={"title": "新", "amount": 2})
    r = staff.post(reverse(LOG_LIST), {"action": "rearchive_selected",
                                       "_selected_action": [rows[0].pk, rows[-1].pk]},
                   follow=True, **EN)
    said = messages_of(r)
    assert "1 request re-archived with its current data." in said
    assert any(f"#{rows[-1].pk}: re-archive" in m and "nope" in m for m in said)
    new = ArchiveLog.objects.filter(rearchive_of=rows[0]).get()
    assert (new.trigger, new.outcome) == ("rearchive", "success")
    assert new.exported_data["form_data.json"] == {"title": "新", "amount": 2}
    assert new.operator == "admin"
    assert ArchiveLog.objects.filter(rearchive_of=rows[-1], outcome="failed").exists()


def test_re_archive_needs_the_permission_to_add_log_rows(client, logs):
    viewer = make_user("viewer", "archiving.view_archivelog")
    client.force_login(viewer)
    page = client.get(reverse(LOG_LIST), **EN)
    assert page.status_code == 200
    assert "rearchive_selected" not in page.content.decode()
    client.post(reverse(LOG_LIST), {"action": "rearchive_selected",
                                    "_selected_action": [logs[2][0].pk]})
    assert not ArchiveLog.objects.filter(rearchive_of__isnull=False).exists()


def test_an_outsider_cannot_open_the_archive_pages(client, logs):
    client.force_login(make_user("nobody"))
    for name in ("archivelog", "archivescheme", "archivetarget", "archivejob"):
        assert client.get(reverse(f"admin:archiving_{name}_changelist")).status_code == 403


def test_the_job_outbox_is_listed(staff, api, workflow, tmp_path):
    from .conftest import post_event, workflow_event

    make_scheme(workflow, directory_target(tmp_path), trigger="moment")
    post_event(api, workflow_event("批准", moment="before"))
    job = ArchiveJob.objects.get()
    page = staff.get(reverse("admin:archiving_archivejob_changelist"), {"q": job.event_id},
                     **EN).content.decode()
    assert job.event_id in page
    detail = staff.get(reverse("admin:archiving_archivejob_change", args=[job.pk]), **EN)
    assert detail.status_code == 200 and "采购合同" in detail.content.decode()


def test_the_log_list_costs_the_same_queries_whatever_the_page_holds(staff, logs, request_5001):
    url = reverse(LOG_LIST)
    with CaptureQueriesContext(connection) as few:
        staff.get(url, {"q": "5001", "trigger__exact": "api"})
    for entry in logs[2][:30]:
        rearchive(entry)
    with CaptureQueriesContext(connection) as many:
        page = staff.get(url).content.decode()
    assert len(row_ids(page)) == 50 and "#" in page
    assert len(many.captured_queries) <= len(few.captured_queries) + 1


def test_every_archive_page_renders_in_the_default_language(staff, logs):
    scheme, _other, rows = logs
    pages = [reverse(f"admin:archiving_{name}_changelist")
             for name in ("archivelog", "archivescheme", "archivetarget", "archivejob")]
    pages += [reverse("admin:archiving_archivetarget_add"),
              reverse("admin:archiving_archivescheme_add"),
              reverse("admin:archiving_archivescheme_change", args=[scheme.pk]),
              reverse("admin:archiving_archivetarget_change", args=[scheme.target_id]),
              reverse("admin:archiving_archivelog_change", args=[rows[0].pk])]
    for url in pages:
        assert staff.get(url).status_code == 200, url
