"""The `http` archive target against a real receiver on 127.0.0.1: the multipart upload as
received, the answer mapped to success or failure, transient versus permanent."""
import datetime as dt
import io
import socket
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from archiving.models import ArchiveTarget
from archiving.package import ExportData, build
from tests.receivers import Answer

from .conftest import http_target, multipart, unzip

pytestmark = pytest.mark.django_db


def package(**overrides):
    values = dict(
        scheme_id=831746869586460686, scheme_name="合同归档", include_sign_opinions=True,
        mapping=[{"form_field": "title", "metadata_key": "题名", "required": True}],
        node_name="结束", moment="after", trigger="flow", request_id="5001",
        request_title="采购合同", creator="zhangsan", request_status="finished",
        workflow_id="wf-contract", workflow_name="合同审批", form_data={"title": "采购合同"},
        sign_opinions=[], source="current",
        exported_at=dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.timezone.utc))
    values.update(overrides)
    return build(ExportData(**values))


def deliver(target, pkg=None, key="archive-1"):
    handler = target.handler()
    return handler.run(lambda: handler.deliver(pkg or package(), idempotency_key=key))


def closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/upload"


def test_it_uploads_the_zip_with_the_standard_and_extra_fields(receiver):
    target = http_target(receiver.url + "/archive/upload", secret="Bearer s3cret",
                         token_header="Authorization", file_field="archiveFile",
                         extra_fields={"fondsCode": "F001", "title": "归档-{request_id}"})
    pkg = package()
    result = deliver(target, pkg, key="archive-42")
    assert result.ok, result
    got = receiver.requests[0]
    assert (got.method, got.path) == ("POST", "/archive/upload")
    assert got.headers["Authorization"] == "Bearer s3cret"
    assert got.headers["Idempotency-Key"] == "archive-42"
    assert got.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    fields, files = multipart(got)
    assert fields == {"scheme_id": "831746869586460686", "request_id": "5001",
                      "workflow_id": "wf-contract", "sha256": pkg.checksum,
                      "size": str(pkg.size), "file_name": pkg.file_name,
                      "fondsCode": "F001", "title": "归档-5001"}
    name, content, content_type = files["archiveFile"]
    assert (name, content_type) == (pkg.file_name, "application/zip")
    assert content == pkg.content
    assert unzip(content)["metadata.json"]["metadata"] == {"题名": "采购合同"}


def test_without_a_success_field_any_2xx_is_success(receiver):
    receiver.answer = Answer(status=201, body="<html>stored</html>",
                             headers={"Content-Type": "text/html"})
    result = deliver(http_target(receiver.url))
    assert (result.ok, result.http_status) == (True, 201)
    assert "stored" in result.answer


@pytest.mark.parametrize("body, path, value", [
    ({"code": 0, "msg": "ok"}, "code", "0"),
    ({"result": {"status": "OK"}}, "result.status", "OK"),
    ({"success": True}, "success", "true"),
    ({"items": [{"state": "done"}]}, "items.0.state", "done"),
])
def test_the_success_field_must_hold_the_success_value(receiver, body, path, value):
    receiver.answer = Answer(body=body)
    assert deliver(http_target(receiver.url, success_path=path, success_value=value)).ok


@pytest.mark.parametrize("body", [{"code": "E12", "msg": "缺少全宗号"}, {"msg": "缺少全宗号"},
                                  {"code": False, "msg": "缺少全宗号"}])
def test_another_value_is_a_permanent_refusal_with_the_systems_message(receiver, body):
    receiver.answer = Answer(body=body)
    target = http_target(receiver.url, success_path="code", success_value="0",
                         message_path="msg")
    result = deliver(target)
    assert (result.ok, result.permanent) == (False, True)
    assert "缺少全宗号" in result.message and "code" in result.message
    assert "E12" in result.answer or "缺少全宗号" in result.answer


def test_an_answer_that_is_not_json_when_a_field_is_expected_is_transient(receiver):
    receiver.answer = Answer(body="<html>proxy error</html>")
    result = deliver(http_target(receiver.url, success_path="code", success_value="0"))
    assert (result.ok, result.permanent) == (False, False)


@pytest.mark.parametrize("status, permanent", [(500, False), (502, False), (503, False),
                                               (429, False), (408, False), (400, True),
                                               (401, True), (404, True), (413, True)])
def test_http_errors_are_transient_or_permanent(receiver, status, permanent):
    receiver.answer = Answer(status=status, body={"error": "x"})
    result = deliver(http_target(receiver.url))
    assert (result.ok, result.permanent, result.http_status) == (False, permanent, status)


def test_a_refused_connection_is_transient(db):
    result = deliver(http_target(closed_port_url()))
    assert (result.ok, result.permanent) == (False, False)
    assert "Cannot connect" in result.message


def test_a_timeout_is_transient(db, settings):
    settings.ARCHIVE_READ_TIMEOUT = 1
    # A listening socket nobody accepts from: the connection opens, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        result = deliver(http_target(f"http://127.0.0.1:{silent.getsockname()[1]}/upload"))
    assert (result.ok, result.permanent) == (False, False)
    assert "Timed out" in result.message


@pytest.mark.parametrize("status, ok", [(200, True), (405, True), (401, False), (403, False),
                                        (404, False), (503, False)])
def test_test_connection_gets_the_url_with_the_token(receiver, status, ok):
    receiver.answer = Answer(status=status)
    target = http_target(receiver.url, secret="T0KEN", token_header="X-Token")
    result = target.test_connection()
    assert result.ok is ok
    got = receiver.requests[0]
    assert (got.method, got.headers["X-Token"]) == ("GET", "T0KEN")


def test_a_token_http_refuses_is_not_quoted_in_the_answer(receiver):
    # requests quotes a malformed header's value in its error: the token itself
    result = http_target(receiver.url, secret="Bearer s3cr3t-t0ken\nx",
                         token_header="Authorization").test_connection()
    assert result.ok is False and "s3cr3t-t0ken" not in result.message
    assert "header" in result.message and not receiver.requests


def test_test_connection_reports_an_unreachable_target(db):
    result = http_target(closed_port_url()).test_connection()
    assert result.ok is False and "Cannot connect" in result.message


def test_the_token_is_encrypted_at_rest(receiver):
    target = http_target(receiver.url, secret="Bearer s3cret", token_header="Authorization")
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM archiving_archivetarget WHERE id = %s", [target.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and "s3cret" not in stored
    assert ArchiveTarget.objects.get().secret == "Bearer s3cret"
    assert target.masked_secret() == "••••••"


@pytest.mark.parametrize("params, secret, field", [
    ({"url": "ftp://archive/upload"}, "", "url"),
    ({"url": "not a url"}, "", "url"),
    ({}, "", "url"),
    ({"url": "http://archive.example/upload"}, "tok", "token_header"),
    ({"url": "http://archive.example/upload", "token_header": "Bad Header"}, "", "token_header"),
    ({"url": "http://archive.example/upload", "success_path": "code"}, "", "success_value"),
    ({"url": "http://archive.example/upload", "extra_fields": {"sha256": "x"}}, "", "extra_fields"),
    ({"url": "http://archive.example/upload", "extra_fields": {"a b": "x"}}, "", "extra_fields"),
    ({"url": "http://archive.example/upload", "extra_fields": ["x"]}, "", "extra_fields"),
    ({"url": "http://archive.example/upload", "file_field": "a b"}, "", "file_field"),
    ({"url": "http://archive.example/upload", "colour": "red"}, "", "colour"),
])
def test_parameters_are_validated_naming_the_parameter(params, secret, field, db):
    target = ArchiveTarget(name="t", kind="http", params=params, secret=secret)
    with pytest.raises(ValidationError) as raised:
        target.full_clean()
    assert any(message.startswith(f"{field}:") for message in raised.value.message_dict["params"])


def test_an_unknown_kind_is_refused(db):
    with pytest.raises(ValidationError) as raised:
        ArchiveTarget(name="t", kind="ftp", params={}).full_clean()
    assert "kind" in raised.value.message_dict


def test_the_zip_is_deflated(receiver):
    deliver(http_target(receiver.url))
    _fields, files = multipart(receiver.requests[0])
    with zipfile.ZipFile(io.BytesIO(files["file"][1])) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_permanent_failure_naming_where_it_pointed(receiver, status):
    # An SSO gateway sends the upload to its login page, which answers a GET with 200.
    login = receiver.url + "/sso/login?service=archive"
    receiver.answer = lambda got: (Answer(status=status, body="", headers={"Location": login})
                                   if got.path == "/upload" else Answer(body="<html>login</html>"))
    target = http_target(receiver.url + "/upload", secret="Bearer s3cret",
                         token_header="Authorization")
    result = deliver(target)
    assert (result.ok, result.permanent, result.http_status) == (False, True, status)
    assert login in result.message
    assert receiver.paths() == ["/upload"]  # neither the package nor the token went on


def test_test_connection_reports_a_redirect_instead_of_following_it(receiver):
    login = receiver.url + "/sso/login"
    receiver.answer = lambda got: (Answer(status=302, headers={"Location": login})
                                   if got.path == "/upload" else Answer())
    result = http_target(receiver.url + "/upload", secret="T0KEN",
                         token_header="X-Token").test_connection()
    assert (result.ok, result.http_status) == (False, 302)
    assert login in result.message
    assert receiver.paths() == ["/upload"]
