"""What the action-flow endpoints share: the permission to run things, refusing unknown body
fields (a misspelt "inputs" must not run a flow with an empty input), and the run
representations."""
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integration.events import check_json
from pushconfig.api.configs import requires

from ..forms import depth_message, too_deep
from ..models import FlowRun, StepRun

# Starting a run (a flow, a re-run, an Action invoked directly) is adding a flow run.
RUN_PERMISSION = "actionflow.add_flowrun"
CanRun = requires(RUN_PERMISSION)
CanViewFlows = requires("actionflow.view_actionflow")
CanViewRuns = requires("actionflow.view_flowrun")
CanAddFlows = requires("actionflow.add_actionflow")


class StrictFields:
    """A serializer mixin: body fields it does not declare are refused, naming them."""

    def validate(self, attrs):
        unknown = sorted(set(getattr(self, "initial_data", {}) or {}) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        return super().validate(attrs)


@extend_schema_field({"type": "object", "additionalProperties": True})
class ObjectField(serializers.DictField):
    """A JSON object of anything (DictField's schema would say "of strings"), nested at
    most forms.MAX_DEPTH levels, holding nothing jsonb refuses (check_json)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if too_deep(value):  # first: check_json walks it recursively
            raise serializers.ValidationError(depth_message())
        return check_json(value)


class BoundedJSONField(serializers.JSONField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if too_deep(value):  # first: check_json walks it recursively
            raise serializers.ValidationError(depth_message())
        return check_json(value)


def choice_schema(choices, description=""):
    """A choice documented as text listing its values. "status" and "trigger" name other
    choice sets elsewhere in the API, and an enum component shared by two of our schemas would
    need a settings-wide name override to be named without a warning."""
    values = ", ".join(value for value, _label in choices)
    one_of = format_lazy(gettext_lazy("One of: {values}."), values=values)
    return extend_schema_field({"type": "string", "description": (
        format_lazy("{} {}", description, one_of) if description else one_of)})


@choice_schema(FlowRun.Status.choices)
class RunStatusField(serializers.CharField):
    pass


@choice_schema(FlowRun.Trigger.choices, gettext_lazy("What started the run."))
class RunTriggerField(serializers.CharField):
    pass


@choice_schema(StepRun.Status.choices)
class StepStatusField(serializers.CharField):
    pass


class StepRunOut(serializers.ModelSerializer):
    status = StepStatusField(read_only=True)
    input = ObjectField(read_only=True, help_text=gettext_lazy(
        "The step's settings as it ran them (expressions evaluated, secrets masked)."))
    output = ObjectField(read_only=True)

    class Meta:
        model = StepRun
        fields = ["seq", "key", "name", "kind", "status", "continued", "tries", "input",
                  "output", "error", "started_at", "finished_at", "duration_ms"]


class FlowRunOut(serializers.ModelSerializer):
    flow_name = serializers.CharField(source="flow.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    trigger = RunTriggerField(read_only=True)
    status = RunStatusField(read_only=True)
    input = ObjectField(read_only=True)

    class Meta:
        model = FlowRun
        fields = ["id", "flow", "flow_name", "version", "trigger", "status", "message",
                  "failed_step", "input", "event_id", "push_record_id", "parent_run",
                  "rerun_of", "requested_by", "attempts", "created_at", "started_at",
                  "finished_at", "duration_ms"]


class FlowRunDetailOut(FlowRunOut):
    steps = StepRunOut(many=True, read_only=True)

    class Meta(FlowRunOut.Meta):
        fields = [*FlowRunOut.Meta.fields, "steps"]


class RunStartedOut(serializers.Serializer):
    run = serializers.IntegerField(help_text=gettext_lazy(
        "The new run's id (GET /api/v1/flow-runs/<id>)."))
    status = RunStatusField()
    version = serializers.IntegerField(help_text=gettext_lazy(
        "The flow version the run executes."))


def started(run):
    return {"run": run.pk, "status": run.status, "version": run.version.number}

