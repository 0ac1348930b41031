"""Serverless Action step (内置 serverless/Action): runs a built-in Action by group and
version (actionflow.actions) with inputs mapped from the flow's data; its outputs are the
Action's declared outputs, e.g. the seed's archive Action `intias_wf` 1.0."""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from ..actions import ActionContext, ActionError, UnknownAction, get_action
from .base import Step, StepFailed, StepResult, register


class ActionConfig(serializers.Serializer):
    group = serializers.CharField(max_length=100)
    version = serializers.CharField(max_length=20)
    inputs = serializers.DictField(default=dict)

    def validate(self, data):
        try:
            action = get_action(data["group"], data["version"])
        except UnknownAction as exc:
            raise serializers.ValidationError({"group": str(exc)}) from None
        known = {p.name for p in action.inputs}
        unknown = sorted(set(data["inputs"]) - known)
        if unknown:
            raise serializers.ValidationError({"inputs": _(
                "%(action)s has no input %(names)s; its inputs are %(known)s.") % {
                "action": action.group, "names": ", ".join(unknown),
                "known": ", ".join(p.name for p in action.inputs)}})
        missing = [p.name for p in action.inputs if p.required and p.name not in data["inputs"]]
        if missing:
            raise serializers.ValidationError({"inputs": _(
                "Map the required inputs: %(names)s.") % {"names": ", ".join(missing)}})
        return data


@register
class ServerlessAction(Step):
    kind = "action"
    label = gettext_lazy("Built-in serverless Action")
    description = gettext_lazy("Runs a built-in Action (group and version) with mapped inputs; "
                               "later steps read its outputs.")
    example = {"group": "intias_wf", "version": "1.0",
               "inputs": {"workflowId": "{{ input.workflow_id }}",
                          "requestId": "{{ input.request_id }}",
                          "creatorId": "{{ input.creator }}", "channelIds": ""}}
    Config = ActionConfig

    def run(self, settings, runtime):
        action = get_action(settings["group"], settings["version"])
        context = ActionContext(source="flow", run_id=runtime.run.pk, flow_id=runtime.flow.pk,
                                operator=runtime.operator, deadline=runtime.deadline)
        try:
            output = action().run(dict(settings.get("inputs") or {}), context)
        except ActionError as exc:
            raise StepFailed(exc.reason, transient=exc.transient) from None
        return StepResult(output=dict(output or {}))
