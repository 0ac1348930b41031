"""Fixtures and helpers of the action-flow tests: the workflow and its events.
(Flows are built with helpers.make_flow.)"""
import json

import pytest

from integration.models import Workflow


@pytest.fixture
def workflow(db):
    return Workflow.objects.create(workflow_id="wf-risk", name="风险处理流程")


def post_workflow_events(api, *events):
    return api.post("/api/v1/workflow-events/", json.dumps(list(events)),
                    content_type="application/json")


def workflow_event(event_id, node="批准", moment="before", request_id="req-1", **extra):
    return {"event_id": event_id, "moment": moment, "request_id": request_id,
            "workflow_id": "wf-risk", "node_name": node, "request_title": "风险事项",
            "creator": "zhangsan", "occurred_at": "2026-11-20T09:00:00+08:00", **extra}
