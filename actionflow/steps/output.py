"""Output step (输出组件): ends the run as a success or a failure with a message, e.g. the
seed's failure whose message is the Action's `msg` ({{ steps.archive.msg }})."""
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .base import Step, StepResult, register

SUCCESS, FAILED = "success", "failed"


class OutputConfig(serializers.Serializer):
    status = serializers.ChoiceField(choices=[(SUCCESS, _("Success")), (FAILED, _("Failure"))])
    message = serializers.CharField(required=False, allow_blank=True, max_length=4000)


@register
class Output(Step):
    kind = "output"
    label = _("Output (finish the run)")
    description = _("Finishes the run as a success or a failure with a message. In a flow "
                    "called by an ESB push, it decides whether the push succeeded.")
    example = {"status": "failed", "message": "{{ steps.archive.msg }}"}
    Config = OutputConfig

    def run(self, settings, runtime):
        message = "" if settings.get("message") is None else str(settings.get("message"))
        status = settings["status"]
        return StepResult(output={"status": status, "message": message},
                          finish=(status, message))
