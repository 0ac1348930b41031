"""Seed 000 end to end: the archive flow made from its template — workflow trigger before the
approval node → serverless Action intias_wf 1.0 → branch on its status → an output step
failing with its msg — driven by real workflow events, archiving to a real HTTP receiver.
The OA's answer says whether the node may go on and, when not, why."""
import json

import pytest

from actionflow.flow_templates import create_from_template
from actionflow.models import FlowRun
from archiving.models import ArchiveLog
from tests.archiving.conftest import (
    fast_retries,
    http_target,
    make_scheme,
    multipart,
    opinion,
    receiver,
    unzip,
    workflow,
    workflow_event,
)
from tests.receivers import Answer

pytestmark = pytest.mark.django_db
__all__ = ["fast_retries", "receiver", "workflow"]  # fixtures, imported to be used by name


@pytest.fixture
def archive_flow(workflow, receiver):
    scheme = make_scheme(workflow, http_target(receiver.url + "/archive"), include_sign_opinions=True)
    flow = create_from_template("archive_intias_wf", name="合同归档", workflow=workflow,
                                node_name="批准", moment="before", enabled=True, user="admin")
    return flow, scheme


def post(api, event):
    r = api.post("/api/v1/workflow-events/", json.dumps(event), content_type="application/json")
    assert r.status_code in (200, 201), r.content
    return r.json()["results"][0]


def walk_to_approval(api):
    post(api, workflow_event("创建", minute=1,
                             sign_opinions=[opinion("创建", "zhangsan", "提交审批", 1)]))
    post(api, workflow_event("提交", minute=2,
                             sign_opinions=[opinion("创建", "zhangsan", "提交审批", 1)]))
    return post(api, workflow_event("批准", moment="before", minute=3,
                                    sign_opinions=[opinion("创建", "zhangsan", "提交审批", 1)]))


def test_the_template_builds_the_seeds_flow(archive_flow):
    flow, _scheme = archive_flow
    steps = flow.current_version().definition["steps"]
    assert [(s["key"], s["kind"]) for s in steps] == [
        ("archive", "action"), ("check", "branch"), ("fail", "output")]
    assert steps[0]["config"]["group"] == "intias_wf" and steps[0]["config"]["version"] == "1.0"
    assert (flow.trigger, flow.node_name, flow.moment) == ("workflow", "批准", "before")


def test_archived_before_approval_the_node_goes_on(api, archive_flow, receiver):
    _flow, scheme = archive_flow
    answer = walk_to_approval(api)
    assert answer["proceed"] is True
    assert answer["flows"][0]["status"] == "success"
    [sent] = receiver.requests
    _fields, files = multipart(sent)
    package = unzip(next(iter(files.values()))[1])
    # Before the approval node: the form data and the opinions of the earlier nodes only.
    assert [o["node_name"] for o in package["sign_opinions.json"]] == ["创建"]
    log = ArchiveLog.objects.get()
    assert (log.scheme_id, log.outcome, log.request_id) == (scheme.pk, "success", "5001")
    run = FlowRun.objects.get()
    assert run.steps.get(key="archive").output["status"] is True


def test_a_failed_archive_stops_the_node_with_the_actions_message(api, archive_flow, receiver,
                                                                 fast_retries):
    receiver.answer = Answer(status=400, body={"code": "E1", "msg": "档案系统拒收"})
    answer = walk_to_approval(api)
    assert answer["proceed"] is False
    [entry] = answer["flows"]
    run = FlowRun.objects.get()
    assert entry["status"] == "failed" and entry["message"] == run.message
    assert run.failed_step == "fail"
    assert run.message == run.steps.get(key="archive").output["msg"] and run.message
    assert ArchiveLog.objects.get().outcome == "failed"
