"""Ready-made flows: a template builds the steps of a flow that reproduces a documented
recipe (e.g. the seed's archive flow: workflow trigger → intias_wf Action → branch on status
→ failure output with the Action's msg), so an administrator picks a workflow and a moment
instead of typing each step.

A template is registered with `register(FlowTemplate(...))`; its `steps` is a list of step
dicts (key, name, kind, config, tries, retry_wait, on_failure) and `trigger` the flow's
trigger fields. `create_from_template()` makes the flow, checks its steps like any save and
publishes version 1.
"""
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


@dataclass(frozen=True)
class FlowTemplate:
    key: str
    label: str
    description: str = ""
    trigger: dict = field(default_factory=dict)
    steps: tuple = ()


REGISTRY: dict[str, FlowTemplate] = {}


class TemplateError(ValueError):
    pass


def register(template):
    if not template.key or template.key in REGISTRY:
        raise ValueError(f"flow template {template.key!r} is empty or taken")
    REGISTRY[template.key] = template
    return template


def template_choices():
    return [(key, str(t.label)) for key, t in REGISTRY.items()]


@transaction.atomic
def create_from_template(key, *, name, user="", enabled=False, **trigger):
    """A new flow named `name` from template `key`; `trigger` overrides the template's
    trigger fields (workflow, node_name, moment, …). Raises TemplateError with a message."""
    from django.core.exceptions import ValidationError

    from .definition import check_steps, publish
    from .models import ActionFlow, FlowStep

    template = REGISTRY.get(key)
    if template is None:
        raise TemplateError(_("There is no flow template “%(key)s”.") % {"key": key})
    if ActionFlow.objects.filter(name=name).exists():
        raise TemplateError(_("An action flow named “%(name)s” exists already.") % {"name": name})
    flow = ActionFlow(name=name, enabled=enabled, description=str(template.description),
                      **{**template.trigger, **trigger})
    try:
        flow.full_clean()
    except ValidationError as exc:
        raise TemplateError("; ".join(f"{k}: {' '.join(v)}" for k, v in
                                      exc.message_dict.items())) from None
    flow.save()
    steps = [FlowStep(flow=flow, order=index, **step)
             for index, step in enumerate(template.steps, start=1)]
    problems = check_steps([{"key": s.key, "kind": s.kind, "config": s.config} for s in steps])
    if problems:
        raise TemplateError("; ".join(m for ms in problems.values() for m in ms))
    FlowStep.objects.bulk_create(steps)
    publish(flow, user)
    return flow


# The seed's archive flow (seeds 000): workflow trigger → the built-in Action intias_wf 1.0
# with the request's ids → branch on its `status` → otherwise an output step failing with its
# `msg`. Run "before" a node, the OA stops the node and shows why archiving failed.
register(FlowTemplate(
    key="archive_intias_wf",
    label=gettext_lazy("Archive a request (intias_wf 1.0), stop the node on failure"),
    description=gettext_lazy(
        "Workflow trigger → built-in serverless Action intias_wf 1.0 (workflowId, requestId, "
        "creatorId; channelIds empty: every flow-triggered archive scheme of the workflow) → "
        "branch on the Action's status → otherwise an output step failing with its msg."),
    trigger={"trigger": "workflow", "moment": "before"},
    steps=(
        {"key": "archive", "name": "serverless/Action intias_wf", "kind": "action",
         "config": {"group": "intias_wf", "version": "1.0", "inputs": {
             "workflowId": "{{ input.workflow_id }}",
             "requestId": "{{ input.request_id }}",
             "creatorId": "{{ default(input.creator, record.creator) }}",
             "channelIds": ""}}},
        {"key": "check", "name": "分支", "kind": "branch",
         "config": {"branches": [{"name": "归档成功", "mode": "all", "conditions": [
             {"left": "{{ steps.archive.status }}", "operator": "is_true"}], "steps": []}],
             "otherwise": ["fail"]}},
        {"key": "fail", "name": "输出组件", "kind": "output",
         "config": {"status": "failed", "message": "{{ steps.archive.msg }}"}},
    ),
))
