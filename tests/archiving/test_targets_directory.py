"""The `directory` archive target: atomic writes, the file layout, and paths that would
escape the base directory."""
import datetime as dt
import errno
import os

import pytest
from django.core.exceptions import ValidationError

from archiving.models import ArchiveTarget
from archiving.package import ExportData, build

from .conftest import directory_target, unzip

pytestmark = pytest.mark.django_db


def package(request_id="5001", **overrides):
    values = dict(
        scheme_id=831746869586460686, scheme_name="合同归档", include_sign_opinions=False,
        mapping=[], node_name="结束", moment="after", trigger="flow", request_id=request_id,
        request_title="采购合同", creator="zhangsan", request_status="finished",
        workflow_id="wf-contract", workflow_name="合同审批", form_data={"title": "采购合同"},
        sign_opinions=[], source="current",
        exported_at=dt.datetime(2026, 11, 20, 2, 0, 0, 5000, tzinfo=dt.timezone.utc))
    values.update(overrides)
    return build(ExportData(**values))


def deliver(target, pkg):
    handler = target.handler()
    return handler.run(lambda: handler.deliver(pkg))


def files_under(path):
    return sorted(os.path.relpath(os.path.join(root, name), path)
                  for root, _dirs, names in os.walk(path) for name in names)


def test_it_writes_the_package_as_scheme_id_slash_request_id_timestamp_zip(tmp_path):
    pkg = package()
    result = deliver(directory_target(tmp_path), pkg)
    expected = tmp_path / "831746869586460686" / "5001-20261120100000005.zip"
    assert result.ok, result
    assert (result.location, result.permanent) == (str(expected), False)
    assert files_under(tmp_path) == ["831746869586460686/5001-20261120100000005.zip"]
    assert expected.read_bytes() == pkg.content
    assert list(unzip(expected.read_bytes())) == ["metadata.json", "form_data.json",
                                                  "attachments.json"]


def test_it_writes_through_a_synced_temporary_file_renamed_in_place(tmp_path, monkeypatch):
    calls = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(os, "replace", lambda src, dst: (calls.append(("replace", src, dst)),
                                                         real_replace(src, dst))[1])
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync", fd)), real_fsync(fd))[1])
    assert deliver(directory_target(tmp_path), package()).ok
    kinds = [c[0] for c in calls]
    assert kinds == ["fsync", "replace", "fsync"]  # the file, the rename, the folder
    _kind, src, dst = calls[1]
    assert os.path.dirname(src) == os.path.dirname(dst)
    assert os.path.basename(src).startswith(".5001-") and src.endswith(".part")


def test_a_failed_write_leaves_neither_a_package_nor_a_temporary_file(tmp_path, monkeypatch):
    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    result = deliver(directory_target(tmp_path), package())
    assert (result.ok, result.permanent) == (False, False)  # a full disk may clear up
    assert "No space left" in result.message
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("request_id", ["../evil", "..", "a/b", "a\\b", ""])
def test_a_request_id_that_is_not_a_plain_file_name_is_refused(tmp_path, request_id):
    base = tmp_path / "base"
    base.mkdir()
    result = deliver(directory_target(base), package(request_id=request_id))
    assert (result.ok, result.permanent) == (False, True)
    assert files_under(tmp_path) == []


def test_a_link_leading_out_of_the_base_directory_is_refused(tmp_path):
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    os.symlink(outside, base / "831746869586460686")
    result = deliver(directory_target(base), package())
    assert (result.ok, result.permanent) == (False, True)
    assert "outside the base directory" in result.message
    assert list(outside.iterdir()) == []


def test_a_missing_base_directory_is_a_permanent_failure(tmp_path):
    target = directory_target(tmp_path / "gone")
    result = deliver(target, package())
    assert (result.ok, result.permanent) == (False, True)
    assert not (tmp_path / "gone").exists()


def test_test_connection_writes_and_removes_a_probe(tmp_path):
    result = directory_target(tmp_path).test_connection()
    assert result.ok and "writable" in result.message
    assert files_under(tmp_path) == []
    assert directory_target(tmp_path / "gone").test_connection().ok is False


@pytest.mark.parametrize("base_dir", ["relative/path", "", "/tmp/a\x00b"])
def test_the_base_directory_must_be_an_absolute_path(base_dir, db):
    target = ArchiveTarget(name="d", kind="directory", params={"base_dir": base_dir})
    with pytest.raises(ValidationError) as raised:
        target.full_clean()
    assert any(m.startswith("base_dir:") for m in raised.value.message_dict["params"])


def test_the_directory_kind_takes_no_token(tmp_path, db):
    target = ArchiveTarget(name="d", kind="directory", params={"base_dir": str(tmp_path)},
                           secret="x")
    with pytest.raises(ValidationError) as raised:
        target.full_clean()
    assert "secret" in raised.value.message_dict
