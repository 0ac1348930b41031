"""Helpers of the archiving tests: the seed's four-node workflow (创建, 提交, 批准, 结束), a
request moved through it by real workflow events, targets pointed at a real HTTP receiver on
127.0.0.1 or a temporary directory, and a reader for the multipart bodies the receiver got."""
import io
import itertools
import json
import zipfile
from email.parser import BytesParser
from email.policy import default as default_policy

import pytest

from archiving.models import ArchiveScheme, ArchiveTarget
from integration.models import Workflow, WorkflowNode
from tests.receivers import Answer, Receiver

NODES = ["创建", "提交", "批准", "结束"]
WORKFLOW_ID = "wf-contract"
_seq = itertools.count(1)


@pytest.fixture
def receiver():
    server = Receiver(Answer(body={"code": "0", "msg": "ok"}))
    yield server
    server.close()


@pytest.fixture
def workflow(db):
    flow = Workflow.objects.create(workflow_id=WORKFLOW_ID, name="合同审批")
    for order, name in enumerate(NODES):
        WorkflowNode.objects.create(workflow=flow, node_id=f"n{order}", name=name, order=order)
    return flow


@pytest.fixture
def fast_retries(settings):
    """The Action's transient retries without the waits."""
    settings.ARCHIVE_ACTION_RETRY_SECONDS = 0


def http_target(url, name=None, secret="", **params):
    target = ArchiveTarget(name=name or f"http-{next(_seq)}", kind="http",
                           params={"url": url, **params}, secret=secret)
    target.full_clean()
    target.save()
    return target


def directory_target(path, name=None):
    target = ArchiveTarget(name=name or f"dir-{next(_seq)}", kind="directory",
                           params={"base_dir": str(path)})
    target.full_clean()
    target.save()
    return target


def make_scheme(workflow, target, **overrides):
    values = {"name": f"方案{next(_seq)}", "enabled": True, "workflow": workflow,
              "node_name": "批准", "moment": "before", "trigger": "flow", "target": target,
              "field_mapping": [{"form_field": "title", "metadata_key": "题名",
                                 "required": True},
                                {"form_field": "amount", "metadata_key": "金额"}]}
    values.update(overrides)
    scheme = ArchiveScheme(**values)
    scheme.full_clean()
    scheme.save()
    return scheme


def opinion(node, operator, text, minute=0):
    return {"node_name": node, "operator": operator, "opinion": text,
            "signed_at": f"2026-11-20T10:{minute:02d}:00+08:00"}


def workflow_event(node, moment="after", minute=0, **overrides):
    event = {"event_id": f"wf-{next(_seq)}", "moment": moment, "request_id": "5001",
             "request_title": "采购合同-张三", "workflow_id": WORKFLOW_ID, "node_name": node,
             "operator": "zhangsan", "creator": "zhangsan",
             "form_data": {"title": "采购合同", "amount": 1200},
             "sign_opinions": [], "occurred_at": f"2026-11-20T10:{minute:02d}:00+08:00"}
    event.update(overrides)
    return event


def post_event(api, event):
    r = api.post("/api/v1/workflow-events/", json.dumps(event), content_type="application/json")
    assert r.status_code in (200, 201), r.content
    return r


def multipart(received):
    """{field name: text} and {field name: (file name, bytes)} of a multipart/form-data body."""
    content_type = received.headers.get("Content-Type") or received.headers.get("content-type")
    message = BytesParser(policy=default_policy).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + received.body)
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if part.get_filename():
            files[name] = (part.get_filename(), data, part.get_content_type())
        else:
            fields[name] = data.decode()
    return fields, files


def unzip(content):
    """{name: parsed JSON} of a package, in the zip's order."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: json.loads(archive.read(name)) for name in archive.namelist()}
