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
