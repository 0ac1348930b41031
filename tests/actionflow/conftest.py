"""Helpers of the action-flow tests: flows built as an administrator would, published."""
import json

import pytest

from actionflow.definition import publish
from actionflow.models import ActionFlow, FlowStep
from integration.models import Workflow


def build_flow(name="flow", trigger=ActionFlow.Trigger.CALLED, steps=(), enabled=True,
               **fields):
    """An ActionFlow with `steps` (dicts: key, kind, config, and optional name, tries,
    retry_wait, on_failure), checked like a save and published as a version."""
    flow = ActionFlow(name=name, trigger=trigger, enabled=enabled, **fields)
    flow.full_clean()
    flow.save()
    for order, step in enumerate(steps, start=1):
        FlowStep.objects.create(flow=flow, order=order, **step)
    publish(flow, "tests")
    return flow


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
