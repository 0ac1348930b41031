"""Output step (输出组件): ends the run as a success or a failure with a message, e.g. the
seed's failure whose message is the Action's `msg` ({{ steps.archive.msg }})."""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from .base import Step, StepFailed, StepResult, register

SUCCESS, FAILED = "success", "failed"
STATUSES = {SUCCESS: gettext_lazy("Success"), FAILED: gettext_lazy("Failure")}


def status_error():
    return _("Use “success” or “failed” (or an expression giving one of them).")


class OutputConfig(serializers.Serializer):
    status = serializers.CharField(max_length=200)
    message = serializers.CharField(required=False, allow_blank=True, max_length=4000)

    def validate_status(self, value):
        if value not in STATUSES and "{{" not in value:
            raise serializers.ValidationError(status_error())
        return value


@register
class Output(Step):
    kind = "output"
    label = gettext_lazy("Output (finish the run)")
    description = gettext_lazy(
        "Finishes the run as a success or a failure with a message. In a flow called by an "
        "ESB push, it decides whether the push succeeded.")
    example = {"status": "failed", "message": "{{ steps.archive.msg }}"}
    Config = OutputConfig

    def run(self, settings, runtime):
        message = "" if settings.get("message") is None else str(settings.get("message"))
        status = settings.get("status")
        if status not in STATUSES:
            raise StepFailed(_("The output status is “%(value)s”. ") % {"value": status}
                             + status_error())
        return StepResult(output={"status": status, "message": message},
                          finish=(status, message))
