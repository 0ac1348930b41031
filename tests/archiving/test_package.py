"""The archive package: layout, metadata mapping, attachments convention, determinism."""
import datetime as dt
import io
import zipfile

import pytest

from archiving.package import ExportData, PackageError, build, find_attachments

from .conftest import unzip

WHEN = dt.datetime(2026, 11, 20, 2, 30, 15, 123000, tzinfo=dt.timezone.utc)


def data(**overrides):
    values = dict(
        scheme_id=831746869586460686, scheme_name="合同归档", include_sign_opinions=True,
        mapping=[{"form_field": "title", "metadata_key": "题名", "required": True},
                 {"form_field": "applicant.dept", "metadata_key": "部门", "required": False},
                 {"form_field": "missing", "metadata_key": "备注", "required": False}],
        node_name="批准", moment="before", trigger="moment", request_id="5001",
        request_title="采购合同-张三", creator="zhangsan", request_status="running",
        workflow_id="wf-contract", workflow_name="合同审批",
        form_data={"title": "采购合同", "applicant": {"dept": "采购部", "name": "张三"}},
        sign_opinions=[{"node_name": "提交", "operator": "zhangsan", "opinion": "请审批"}],
        source="event_snapshot", source_event_id="wf-9", as_of="2026-11-20T10:00:00+08:00",
        exported_at=WHEN)
    values.update(overrides)
    return ExportData(**values)


def test_it_holds_metadata_form_data_sign_opinions_and_attachments_in_order():
    package = build(data())
    files = unzip(package.content)
    assert list(files) == ["metadata.json", "form_data.json", "sign_opinions.json",
                           "attachments.json"]
    meta = files["metadata.json"]
    assert meta["metadata"] == {"题名": "采购合同", "部门": "采购部", "备注": None}
    assert meta["scheme"] == {"id": "831746869586460686", "name": "合同归档"}
    assert meta["request"]["request_id"] == "5001"
    assert meta["workflow"] == {"workflow_id": "wf-contract", "name": "合同审批"}
    assert meta["moment"] == {"node_name": "批准", "moment": "before", "trigger": "moment"}
    assert meta["source"] == {"kind": "event_snapshot", "event_id": "wf-9",
                              "as_of": "2026-11-20T10:00:00+08:00"}
    assert meta["exported_at"] == WHEN.isoformat()
    assert meta["contents"] == list(files)
    assert files["form_data.json"]["applicant"]["dept"] == "采购部"
    assert files["sign_opinions.json"][0]["opinion"] == "请审批"
    assert package.exported == files


def test_it_records_checksum_size_and_a_sortable_file_name():
    import hashlib

    package = build(data())
    assert package.checksum == hashlib.sha256(package.content).hexdigest()
    assert package.size == len(package.content)
    assert package.file_name == "5001-20261120103015123.zip"  # Asia/Shanghai


def test_sign_opinions_are_left_out_when_the_scheme_does_not_include_them():
    files = unzip(build(data(include_sign_opinions=False)).content)
    assert "sign_opinions.json" not in files
    assert "sign_opinions.json" not in files["metadata.json"]["contents"]


def test_a_required_form_field_without_value_cannot_make_a_package():
    with pytest.raises(PackageError, match="title"):
        build(data(form_data={"title": "  "}))
    with pytest.raises(PackageError, match="title"):
        build(data(form_data={}))


def test_the_same_data_makes_the_same_bytes_whatever_the_key_order():
    first = build(data(form_data={"title": "采购合同", "b": 1, "a": {"y": 2, "x": 1}}))
    second = build(data(form_data={"a": {"x": 1, "y": 2}, "b": 1, "title": "采购合同"}))
    assert first.content == second.content and first.checksum == second.checksum
    with zipfile.ZipFile(io.BytesIO(first.content)) as archive:
        infos = archive.infolist()
    assert {info.date_time for info in infos} == {(2026, 11, 20, 10, 30, 14)}
    assert {info.external_attr >> 16 for info in infos} == {0o644}


def test_attachments_are_objects_with_a_file_name_and_a_link_anywhere_in_the_form():
    form = {
        "附件": [{"name": "合同.pdf", "url": "https://oa/f/1", "size": 1024, "id": 77},
                 {"fileName": "报价.xlsx", "downloadUrl": "https://oa/f/2", "fileSize": "2048"}],
        "明细": [{"金额": 1, "附件": [{"filename": "发票.jpg", "file_url": "https://oa/f/3",
                                      "size": "big"}]}],
        "负责人": {"name": "张三", "id": "u1"},          # a name without a link: not a file
        "link": {"url": "https://example.com"},          # a link without a name: not a file
    }
    assert find_attachments(form) == [
        {"field": "明细[0].附件[0]", "name": "发票.jpg", "url": "https://oa/f/3", "size": None,
         "id": None},
        {"field": "附件[0]", "name": "合同.pdf", "url": "https://oa/f/1", "size": 1024,
         "id": "77"},
        {"field": "附件[1]", "name": "报价.xlsx", "url": "https://oa/f/2", "size": 2048,
         "id": None},
    ]
    files = unzip(build(data(form_data={"title": "t", **form})).content)
    assert [a["name"] for a in files["attachments.json"]] == ["发票.jpg", "合同.pdf", "报价.xlsx"]
