"""REST: archive targets (masked write-only token, validation naming the field, connection
test), schemes (ids as text, mapping and node validation), the archive log (filters, cursor
pages, re-archive), the Action's door, and permissions."""
import json

import pytest

from archiving.models import ArchiveLog, ArchiveScheme, ArchiveTarget
from integration.models import Request
from tests.conftest import client_for, make_user
from tests.receivers import Answer

from .conftest import WORKFLOW_ID, directory_target, http_target, make_scheme, opinion

pytestmark = pytest.mark.django_db


def post(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def request_5001(workflow):
    return Request.objects.create(
        request_id="5001", title="采购合同", workflow=workflow, workflow_ref=WORKFLOW_ID,
        creator="zhangsan", form_data={"title": "采购合同", "amount": 1200},
        sign_opinions=[opinion("提交", "zhangsan", "请审批")])


# -- targets -----------------------------------------------------------------------------------
def test_a_target_is_created_with_its_token_write_only_and_masked(api, receiver):
    r = post(api, "/api/v1/archive-targets/", {
        "name": "档案系统", "kind": "http", "secret": "Bearer abcdefghijklmnop-1234",
        "params": {"url": receiver.url + "/upload", "token_header": "Authorization"}})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["secret"] == "••••••1234"
    assert body["params"]["url"] == receiver.url + "/upload"
    assert body["params"]["file_field"] == "file"  # the kind's default
    assert body["kind_label"]
    target = ArchiveTarget.objects.get()
    assert target.secret == "Bearer abcdefghijklmnop-1234"
    assert "abcdefghijklmnop" not in api.get(f"/api/v1/archive-targets/{target.pk}").content.decode()


@pytest.mark.parametrize("kept", [{"secret": ""}, {"secret": "••••••1234"}, {}])
def test_a_blank_masked_or_absent_token_keeps_the_stored_one(api, receiver, kept):
    target = http_target(receiver.url, secret="Bearer abcdefghijklmnop-1234",
                         token_header="Authorization")
    r = patch(api, f"/api/v1/archive-targets/{target.pk}", {"params": {"file_field": "doc"},
                                                             **kept})
    assert r.status_code == 200, r.content
    target.refresh_from_db()
    assert target.secret == "Bearer abcdefghijklmnop-1234"
    # PATCH merges parameters: the URL and header stay.
    assert target.params["url"] == receiver.url and target.params["file_field"] == "doc"


def test_changing_the_kind_drops_the_token_and_a_directory_takes_none(api, receiver, tmp_path):
    target = http_target(receiver.url, secret="tok", token_header="X-Token")
    r = patch(api, f"/api/v1/archive-targets/{target.pk}",
              {"kind": "directory", "params": {"base_dir": str(tmp_path)}})
    assert r.status_code == 200, r.content
    target.refresh_from_db()
    assert (target.kind, target.secret, target.params) == ("directory", "",
                                                          {"base_dir": str(tmp_path)})
    r = patch(api, f"/api/v1/archive-targets/{target.pk}", {"secret": "x"})
    assert r.status_code == 400 and "secret" in r.json()


@pytest.mark.parametrize("body, field", [
    ({"name": "t", "kind": "http", "params": {}}, "params"),
    ({"name": "t", "kind": "ftp", "params": {}}, "kind"),
    ({"name": "t", "kind": "http", "params": "url"}, "params"),
    ({"name": "t", "kind": "http", "params": {"url": "http://archive.example/u",
                                              "extra_fields": {"k": "a\udc00"}}}, "params"),
    ({"name": "a\x00b", "kind": "directory", "params": {"base_dir": "/tmp"}}, "name"),
    ({"name": "\ud800", "kind": "directory", "params": {"base_dir": "/tmp"}}, "name"),
    ({"kind": "directory", "params": {"base_dir": "/tmp"}}, "name"),
])
def test_invalid_targets_are_refused_naming_the_field(api, body, field):
    r = post(api, "/api/v1/archive-targets/", body)
    assert r.status_code == 400, r.content
    assert field in r.json()
    assert not ArchiveTarget.objects.exists()


def test_a_refused_parameter_is_named_inside_params(api):
    r = post(api, "/api/v1/archive-targets/", {"name": "t", "kind": "http",
                                               "params": {"url": "ftp://x", "colour": 1}})
    assert r.status_code == 400
    assert set(r.json()["params"]) == {"colour"}
    r = post(api, "/api/v1/archive-targets/", {"name": "t", "kind": "http",
                                               "params": {"url": "ftp://archive.example/x"}})
    assert set(r.json()["params"]) == {"url"}


def test_the_connection_test_answers_what_the_target_said(api, receiver):
    receiver.answer = Answer(status=401, body={"msg": "bad token"})
    target = http_target(receiver.url)
    r = api.post(f"/api/v1/archive-targets/{target.pk}/test-connection")
    assert r.status_code == 200
    body = r.json()
    assert (body["ok"], body["http_status"], body["permanent"]) == (False, 401, True)
    assert "bad token" in body["answer"]
    receiver.answer = Answer(status=200)
    assert api.post(f"/api/v1/archive-targets/{target.pk}/test-connection").json()["ok"] is True


def test_a_target_in_use_cannot_be_deleted(api, workflow, tmp_path):
    target = directory_target(tmp_path)
    make_scheme(workflow, target)
    r = api.delete(f"/api/v1/archive-targets/{target.pk}")
    assert r.status_code == 409
    assert ArchiveTarget.objects.filter(pk=target.pk).exists()


def test_the_target_kinds_list_their_parameters(api):
    kinds = {k["key"]: k for k in api.get("/api/v1/archive-target-kinds/").json()}
    assert set(kinds) == {"http", "directory"}
    assert [p["name"] for p in kinds["directory"]["params"]] == ["base_dir"]
    assert kinds["http"]["secret_label"] and not kinds["directory"]["secret_label"]
    assert {"url", "success_path", "success_value", "extra_fields"} <= {
        p["name"] for p in kinds["http"]["params"]}


# -- schemes -----------------------------------------------------------------------------------
def scheme_body(target_row, **overrides):
    body = {"name": "合同归档", "enabled": True, "workflow": WORKFLOW_ID, "node_name": "批准",
            "moment": "before", "trigger": "moment", "target": target_row.pk,
            "field_mapping": [{"form_field": "title", "metadata_key": "题名", "required": True}],
            "include_sign_opinions": True}
    body.update(overrides)
    return body


def test_a_scheme_gets_a_snowflake_id_shown_as_text(api, workflow, tmp_path):
    target = directory_target(tmp_path)
    r = post(api, "/api/v1/archive-schemes/", scheme_body(target))
    assert r.status_code == 201, r.content
    scheme_id = r.json()["id"]
    assert isinstance(scheme_id, str) and scheme_id.isdigit() and len(scheme_id) >= 18
    assert int(scheme_id) > 2 ** 53  # why it is text: JavaScript would round it
    got = api.get(f"/api/v1/archive-schemes/{scheme_id}").json()
    assert (got["id"], got["workflow"], got["target_name"]) == (scheme_id, WORKFLOW_ID,
                                                                target.name)
    assert got["field_mapping"] == [{"form_field": "title", "metadata_key": "题名",
                                     "required": True}]
    second = post(api, "/api/v1/archive-schemes/", scheme_body(target, name="二")).json()["id"]
    assert int(second) > int(scheme_id)  # time-ordered


@pytest.mark.parametrize("change, field", [
    ({"field_mapping": {"title": "题名"}}, "field_mapping"),
    ({"field_mapping": [{"form_field": "title"}]}, "field_mapping"),
    ({"field_mapping": [{"form_field": "a", "metadata_key": "k"},
                        {"form_field": "b", "metadata_key": "k"}]}, "field_mapping"),
    ({"field_mapping": [{"form_field": "a", "metadata_key": "k", "required": "yes"}]},
     "field_mapping"),
    ({"field_mapping": [{"form_field": "a", "metadata_key": "k", "colour": 1}]},
     "field_mapping"),
    ({"field_mapping": [{"form_field": "a\x00", "metadata_key": "k"}]}, "field_mapping"),
    ({"field_mapping": [{"form_field": "\ud800", "metadata_key": "k"}]}, "field_mapping"),
    ({"node_name": "董事会"}, "node_name"),
    ({"node_name": ""}, "node_name"),
    ({"workflow": "wf-nope"}, "workflow"),
    ({"moment": "during"}, "moment"),
    ({"trigger": "cron"}, "trigger"),
    ({"target": 999999}, "target"),
    ({"name": ""}, "name"),
    ({"name": "\udc00"}, "name"),
    ({"enabled": "maybe"}, "enabled"),
])
def test_invalid_schemes_are_refused_naming_the_field(api, workflow, tmp_path, change, field):
    r = post(api, "/api/v1/archive-schemes/", scheme_body(directory_target(tmp_path), **change))
    assert r.status_code == 400, r.content
    assert field in r.json()
    assert not ArchiveScheme.objects.exists()


def test_a_mapping_error_names_the_entry(api, workflow, tmp_path):
    r = post(api, "/api/v1/archive-schemes/", scheme_body(directory_target(tmp_path), field_mapping=[
        {"form_field": "a", "metadata_key": "k"}, {"form_field": "b", "metadata_key": "k"}]),
             HTTP_ACCEPT_LANGUAGE="en")
    assert r.json()["field_mapping"] == ["Entry 2: metadata key “k” is used twice."]


def test_schemes_are_filtered_and_unknown_ids_are_404(api, workflow, tmp_path):
    target = directory_target(tmp_path)
    on = make_scheme(workflow, target)
    make_scheme(workflow, target, enabled=False)
    listed = api.get("/api/v1/archive-schemes/?enabled=true&workflow=" + WORKFLOW_ID)
    assert [s["id"] for s in listed.json()["results"]] == [str(on.pk)]
    assert api.get("/api/v1/archive-schemes/?workflow=wf-other").json()["results"] == []
    for bad in ("abc", "99999999999999999999", "1"):
        assert api.get(f"/api/v1/archive-schemes/{bad}").status_code == 404


def test_a_scheme_is_edited_and_deleted(api, workflow, tmp_path):
    scheme = make_scheme(workflow, directory_target(tmp_path))
    r = patch(api, f"/api/v1/archive-schemes/{scheme.pk}", {"node_name": "结束", "moment": "after"})
    assert r.status_code == 200, r.content
    scheme.refresh_from_db()
    assert (scheme.node_name, scheme.moment) == ("结束", "after")
    assert api.delete(f"/api/v1/archive-schemes/{scheme.pk}").status_code == 204


# -- the archive log ---------------------------------------------------------------------------
@pytest.fixture
def logged(api, request_5001, workflow, tmp_path):
    """Two schemes archived by the Action over REST: two log rows."""
    target = directory_target(tmp_path)
    a, b = make_scheme(workflow, target, name="A"), make_scheme(workflow, target, name="B")
    r = post(api, "/api/v1/archive/intias_wf", {"workflowId": WORKFLOW_ID, "requestId": "5001",
                                                "creatorId": "zhangsan"})
    assert r.status_code == 200 and r.json()["status"] is True, r.content
    return a, b


def test_the_log_lists_with_cursor_pages_and_filters(api, logged):
    a, b = logged
    first = api.get("/api/v1/archive-logs/?page_size=1").json()
    assert len(first["results"]) == 1 and first["next"] and "count" not in first
    assert first["results"][0]["exported_data"] is None  # the detail carries it
    second = api.get(first["next"]).json()
    assert second["results"][0]["id"] < first["results"][0]["id"]
    by_scheme = api.get(f"/api/v1/archive-logs/?scheme={a.pk}").json()["results"]
    assert [row["scheme"] for row in by_scheme] == [str(a.pk)]
    assert len(api.get("/api/v1/archive-logs/?outcome=success&trigger=api&request_id=5001")
               .json()["results"]) == 2
    assert api.get("/api/v1/archive-logs/?outcome=failed").json()["results"] == []
    assert api.get("/api/v1/archive-logs/?outcome=nope").status_code == 400
    assert api.get("/api/v1/archive-logs/?request_id=a%00b").status_code == 400


@pytest.mark.parametrize("value", ["9" * 23, str(2 ** 63), str(-2 ** 63 - 1), "1.5", "x"])
def test_a_scheme_filter_outside_the_id_range_is_400_naming_it(api, logged, value):
    r = api.get(f"/api/v1/archive-logs/?scheme={value}")
    assert r.status_code == 400 and list(r.json()) == ["scheme"], r.content


def test_the_largest_scheme_id_is_a_filter_like_any_other(api, logged):
    r = api.get(f"/api/v1/archive-logs/?scheme={2 ** 63 - 1}")
    assert (r.status_code, r.json()["results"]) == (200, [])


@pytest.mark.parametrize("url", ["/api/v1/archive-logs/?rearchive_of={}",
                                 "/api/v1/archive-schemes/?target={}"])
def test_other_id_filters_refuse_an_id_past_the_range(api, logged, url):
    r = api.get(url.format("9" * 23))
    assert r.status_code == 400, r.content


@pytest.mark.parametrize("url", ["/api/v1/archive-logs/{}", "/api/v1/archive-schemes/{}",
                                 "/api/v1/archive-targets/{}"])
def test_an_id_past_the_range_in_the_path_is_404(api, logged, url):
    assert api.get(url.format("9" * 19)).status_code == 404
    assert api.get(url.format("9" * 23)).status_code == 404


def test_a_log_row_shows_what_was_exported(api, logged):
    entry = ArchiveLog.objects.order_by("id").first()
    body = api.get(f"/api/v1/archive-logs/{entry.pk}").json()
    assert body["exported_data"]["form_data.json"] == {"title": "采购合同", "amount": 1200}
    assert (body["checksum"], body["size"]) == (entry.checksum, entry.size)
    assert body["trigger"] == "api" and body["operator"] == "admin"
    assert body["target_answer"] == entry.location


def test_a_re_archive_exports_the_current_data_as_a_new_linked_row(api, logged, request_5001):
    entry = ArchiveLog.objects.order_by("id").first()
    Request.objects.filter(pk=request_5001.pk).update(
        form_data={"title": "采购合同", "amount": 1500},
        sign_opinions=[opinion("提交", "zhangsan", "请审批"), opinion("批准", "wangwu", "同意")])
    r = api.post(f"/api/v1/archive-logs/{entry.pk}/rearchive/")
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["rearchive_of"], body["trigger"], body["outcome"]) == (entry.pk, "rearchive",
                                                                        "success")
    assert body["exported_data"]["form_data.json"]["amount"] == 1500
    assert len(body["exported_data"]["sign_opinions.json"]) == 2
    assert ArchiveLog.objects.count() == 3


def test_a_re_archive_of_a_deleted_scheme_is_409(api, logged):
    entry = ArchiveLog.objects.order_by("id").first()
    entry.scheme.delete()
    r = api.post(f"/api/v1/archive-logs/{entry.pk}/rearchive", HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 409 and "no longer exists" in r.json()["detail"]


def test_the_log_is_read_only(api, logged):
    entry = ArchiveLog.objects.first()
    assert api.delete(f"/api/v1/archive-logs/{entry.pk}").status_code == 405
    assert post(api, "/api/v1/archive-logs/", {}).status_code == 405


# -- the Action's door -------------------------------------------------------------------------
def test_the_action_door_answers_the_outputs(api, request_5001, workflow, tmp_path):
    scheme = make_scheme(workflow, directory_target(tmp_path))
    r = post(api, "/api/v1/archive/intias_wf/", {
        "workflowId": WORKFLOW_ID, "requestId": "5001", "creatorId": "zhangsan",
        "channelIds": f'["{scheme.pk}"]'})
    assert r.status_code == 200
    body = r.json()
    assert (body["code"], body["status"]) == ("OK", True)
    assert body["data"][0]["schemeId"] == str(scheme.pk)


@pytest.mark.parametrize("body, code, field", [
    ({"requestId": "5001", "creatorId": "zhangsan"}, "MISSING_INPUT", "workflowId"),
    ({"workflowId": WORKFLOW_ID, "requestId": "5001", "creatorId": "zhangsan",
      "channelIds": "x"}, "INVALID_INPUT", "channelIds"),
    ({"workflowId": WORKFLOW_ID, "requestId": "5001", "creatorId": "lisi"}, "CREATOR_MISMATCH",
     "creatorId"),
    ({"workflowId": WORKFLOW_ID, "requestId": "\ud800", "creatorId": "x"}, "INVALID_INPUT",
     "requestId"),
    (["not", "an", "object"], "INVALID_INPUT", "non_field_errors"),
])
def test_the_action_door_refuses_bad_inputs_with_400_naming_them(api, request_5001, workflow,
                                                                  tmp_path, body, code, field):
    make_scheme(workflow, directory_target(tmp_path))
    r = post(api, "/api/v1/archive/intias_wf", body)
    assert r.status_code == 400, r.content
    answer = r.json()
    assert (answer["code"], answer["status"]) == (code, False)
    assert field in answer["errors"]
    assert not ArchiveLog.objects.exists()


def test_a_failed_archive_is_200_with_status_false(api, request_5001, workflow, receiver):
    receiver.answer = Answer(status=400)
    make_scheme(workflow, http_target(receiver.url))
    r = post(api, "/api/v1/archive/intias_wf", {"workflowId": WORKFLOW_ID, "requestId": "5001",
                                                "creatorId": "zhangsan"})
    assert r.status_code == 200
    assert (r.json()["code"], r.json()["status"]) == ("ARCHIVE_FAILED", False)


# -- permissions -------------------------------------------------------------------------------
ENDPOINTS = [("get", "/api/v1/archive-targets/"), ("post", "/api/v1/archive-targets/"),
             ("get", "/api/v1/archive-target-kinds/"), ("get", "/api/v1/archive-schemes/"),
             ("post", "/api/v1/archive-schemes/"), ("get", "/api/v1/archive-logs/"),
             ("post", "/api/v1/archive/intias_wf")]


@pytest.mark.parametrize("method, url", ENDPOINTS)
def test_an_outsider_gets_403(outsider_api, method, url):
    r = getattr(outsider_api, method)(url, {}, format="json")
    assert r.status_code == 403


def test_an_anonymous_caller_is_refused(client):
    assert client.get("/api/v1/archive-schemes/").status_code in (401, 403)


def test_reading_does_not_allow_re_archiving_or_testing(logged, receiver):
    reader = client_for(make_user("reader", "archiving.view_archivelog",
                                  "archiving.view_archivetarget"))
    entry = ArchiveLog.objects.first()
    assert reader.get(f"/api/v1/archive-logs/{entry.pk}").status_code == 200
    assert reader.post(f"/api/v1/archive-logs/{entry.pk}/rearchive").status_code == 403
    target = http_target(receiver.url)
    assert reader.post(f"/api/v1/archive-targets/{target.pk}/test-connection").status_code == 403
    assert post(reader, "/api/v1/archive/intias_wf", {}).status_code == 403
    assert ArchiveLog.objects.count() == 2


def test_the_re_archive_permission_is_adding_log_rows(logged):
    operator = client_for(make_user("op", "archiving.view_archivelog",
                                    "archiving.add_archivelog"))
    entry = ArchiveLog.objects.first()
    assert operator.post(f"/api/v1/archive-logs/{entry.pk}/rearchive").status_code == 201
