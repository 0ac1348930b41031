"""Call-flow step: runs another action flow (one whose trigger is “called”) with mapped input
and waits for it. Outputs the called run's `status`, `message` and `run` id; a failed called
run fails this step with its message."""
from django.conf import settings as django_settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from .base import Step, StepFailed, StepResult, register

MAX_DEPTH = 5


class CallFlowConfig(serializers.Serializer):
    flow = serializers.CharField(max_length=100, help_text=gettext_lazy("The flow's name."))
    input = serializers.DictField(default=dict)

    def validate_flow(self, value):
        from ..models import ActionFlow

        flow = ActionFlow.objects.filter(name=value).first()
        if flow is None:
            raise serializers.ValidationError(_("There is no action flow named “%(name)s”.")
                                              % {"name": value})
        if flow.trigger != ActionFlow.Trigger.CALLED:
            raise serializers.ValidationError(_("“%(name)s” is not a called flow.")
                                              % {"name": value})
        return value


@register
class CallFlow(Step):
    kind = "call_flow"
    label = gettext_lazy("Call another flow")
    description = gettext_lazy("Runs a flow whose trigger is “called” with the given input "
                               "and waits for its outcome.")
    example = {"flow": "notify-risk-owner", "input": {"request_id": "{{ input.request_id }}"}}
    Config = CallFlowConfig

    def run(self, settings, runtime):
        from .. import engine
        from ..models import ActionFlow, FlowRun

        depth, parent = 0, runtime.run
        while parent is not None and parent.parent_run_id and depth <= MAX_DEPTH:
            depth, parent = depth + 1, parent.parent_run
        if depth >= MAX_DEPTH:
            raise StepFailed(_("Flows call each other more than %(n)d levels deep.")
                             % {"n": MAX_DEPTH})
        child = FlowRun.objects.filter(parent_run=runtime.run,
                                       parent_step=runtime.step_key).order_by("-id").first()
        if child is not None and not child.finished:
            # Started by this step before the parent's worker was lost: finish it here, or
            # wait for the process that holds it.
            child = (engine.execute(child.pk, deadline=runtime.deadline)
                     or FlowRun.objects.get(pk=child.pk))
            if not child.finished:
                raise StepFailed(_("The called run #%(run)d is still going.") % {"run": child.pk},
                                 transient=True)
        if child is None:
            flow = ActionFlow.objects.filter(name=settings["flow"]).first()
            if flow is None or not flow.enabled:
                raise StepFailed(_("The flow “%(name)s” does not exist or is disabled.")
                                 % {"name": settings["flow"]})
            child = engine.run_now(flow, FlowRun.Trigger.FLOW,
                                   dict(settings.get("input") or {}), parent_run=runtime.run,
                                   parent_step=runtime.step_key, deadline=runtime.deadline,
                                   timeout=django_settings.FLOW_CALL_TIMEOUT)
        output = {"status": child.status, "message": child.message, "run": child.pk}
        if child.status == FlowRun.Status.FAILED:
            raise StepFailed(child.message or _("The called flow failed."), output=output)
        if child.status != FlowRun.Status.SUCCESS:
            raise StepFailed(_("The called flow did not finish in time; it goes on as run "
                               "#%(run)d.") % {"run": child.pk}, output=output)
        return StepResult(output=output)
