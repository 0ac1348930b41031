"""/api/v1/action-flows/: action flows with their ordered steps (CRUD), GET <id>/versions and
POST <id>/run.

A write sends the whole ordered list of steps (left out on PATCH: the steps stay). The steps
are checked together by `definition.check_steps` — the check the admin runs — and the flow by
its model (`ActionFlow.full_clean`), so every refusal is a 400 naming the field and, for a
step, its position and key. A save that changes what a run would do publishes a new version.
Secrets are write-only: answers show each name with a masked value; a name sent back with its
mask keeps its value; `{}` removes them all.
"""
import json

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integration.api.fields import SlugRelatedField
from integration.events import check_text
from integration.models import Person, Role, Workflow
from integration.secrets import mask

from .. import engine
from ..definition import check_steps, publish
from ..forms import masked_secrets
from ..models import ActionFlow, FlowRun, FlowStep, FlowVersion
from ..steps import REGISTRY as STEP_KINDS
from .common import (
    BoundedJSONField,
    CanRun,
    CanViewFlows,
    FlowRunDetailOut,
    ObjectField,
    RunStartedOut,
    StrictFields,
    started,
)

STEP_FIELDS = ("key", "name", "kind", "config", "tries", "retry_wait", "on_failure")
ALERTED = ("alert_persons", "alert_roles")


class StepSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(max_length=40, help_text=gettext_lazy(
        "A registered step kind: action, branch, output, http, call_flow, and the IM kinds "
        "(the admin lists each with an example)."))
    config = ObjectField(required=False, default=dict, help_text=gettext_lazy(
        "The kind's settings; text may hold {{ expressions }}."))

    class Meta:
        model = FlowStep
        fields = list(STEP_FIELDS)
        validators = []  # key uniqueness is checked over the whole list, naming the step

    def validate_kind(self, value):
        if value not in STEP_KINDS:
            raise serializers.ValidationError(
                _("“%(kind)s” is not a step kind; use one of: %(kinds)s.")
                % {"kind": value, "kinds": ", ".join(STEP_KINDS)})
        return value


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"},
                      "description": gettext_lazy(
                          "Names and values steps read as {{ secrets.<name> }}; answered masked.")})
class SecretsField(serializers.Field):
    def to_representation(self, value):
        return masked_secrets(value)

    def to_internal_value(self, data):
        if not isinstance(data, dict) or not all(
                isinstance(v, (str, int, float)) and not isinstance(v, bool)
                for v in data.values()):
            raise serializers.ValidationError(
                _('Send an object of names and texts, e.g. {"token": "…"}.'))
        # encrypt() encodes the JSON text as UTF-8, which a lone surrogate fails: a 500
        return {check_text(str(name)): check_text(str(value)) for name, value in data.items()}


class ActionFlowSerializer(serializers.ModelSerializer):
    workflow = SlugRelatedField(
        slug_field="workflow_id", queryset=Workflow.objects.all(), allow_null=True,
        required=False, help_text=gettext_lazy("The OA's workflow id."))
    steps = StepSerializer(many=True, required=False, help_text=gettext_lazy(
        "The ordered steps; a write replaces them all."))
    secrets = SecretsField(required=False)
    alert_channels = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text=gettext_lazy("Alert channel keys: im, cloud_bridge, email, sms."))
    alert_persons = SlugRelatedField(
        slug_field="login_id", many=True, required=False, queryset=Person.objects.all(),
        help_text=gettext_lazy("Login ids of the persons told when a run fails."))
    alert_roles = SlugRelatedField(
        slug_field="external_id", many=True, required=False, queryset=Role.objects.all(),
        help_text=gettext_lazy("OA ids of the roles whose members are told."))
    record_filter = BoundedJSONField(required=False, help_text=gettext_lazy(
        "Date-field trigger: conditions every record must still match, e.g. "
        "[{\"field\": \"data_set\", \"operator\": \"equals\", \"value\": \"todo\"}]."))

    class Meta:
        model = ActionFlow
        fields = ["id", "name", "description", "enabled", "trigger", "workflow", "node_name",
                  "moment", "before_timeout", "block_on_timeout", "record_kind", "date_field",
                  "delay_amount", "delay_unit", "record_filter", "cron", "operator", "secrets",
                  "alert_channels", "alert_persons", "alert_roles", "steps", "version",
                  "created_at", "updated_at"]
        read_only_fields = ["version", "created_at", "updated_at"]

    def validate_steps(self, steps):
        # Keyed by position, as DRF reports a step's own field errors.
        errors, seen = {}, {}
        for index, step in enumerate(steps):
            if step["key"] in seen:
                errors[str(index)] = {"key": [
                    _("Step %(n)d “%(key)s”: step %(first)d has this key.")
                    % {"n": index + 1, "key": step["key"], "first": seen[step["key"]] + 1}]}
            seen.setdefault(step["key"], index)
        if errors:
            raise serializers.ValidationError(errors)
        for index, messages in sorted(check_steps(steps).items()):
            errors[str(index)] = {"config": [_("Step %(n)d “%(key)s”: %(message)s") % {
                "n": index + 1, "key": steps[index]["key"], "message": message}
                for message in messages]}
        if errors:
            raise serializers.ValidationError(errors)
        return steps

    def _secrets(self, sent):
        """The secrets to store: a name sent back with its mask keeps its stored value."""
        stored = {}
        if self.instance is not None and self.instance.secrets:
            try:
                stored = json.loads(self.instance.secrets)
            except ValueError:
                stored = {}
        kept = {name: str(stored[name]) if name in stored and value == mask(str(stored[name]))
                else value for name, value in sent.items()}
        return json.dumps(kept, ensure_ascii=False) if kept else ""

    def validate(self, attrs):
        if "secrets" in attrs:
            attrs["secrets"] = self._secrets(attrs["secrets"])
        # The model's own checks (trigger settings, secrets, channels, uniqueness) on a copy
        # holding the new values: the instance is only changed when everything passes.
        flow = ActionFlow()
        if self.instance is not None:
            flow = ActionFlow(**{field.attname: getattr(self.instance, field.attname)
                                 for field in ActionFlow._meta.concrete_fields})
            flow._state.adding = False  # the stored row: uniqueness checks skip itself
        for name, value in attrs.items():
            if name not in ("steps", *ALERTED):
                setattr(flow, name, value)
        try:
            flow.full_clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        if "alert_channels" in attrs:
            attrs["alert_channels"] = flow.alert_channels  # without repeats
        return attrs

    def _save_related(self, flow, steps, alerted):
        for name, values in alerted.items():
            if values is not None:
                getattr(flow, name).set(values)
        if steps is not None:
            flow.steps.all().delete()
            FlowStep.objects.bulk_create(FlowStep(flow=flow, order=index, **step)
                                         for index, step in enumerate(steps, start=1))
        publish(flow, self.context["request"].user.get_username())

    @transaction.atomic
    def create(self, validated_data):
        steps = validated_data.pop("steps", [])
        alerted = {name: validated_data.pop(name, None) for name in ALERTED}
        flow = ActionFlow.objects.create(**validated_data)
        self._save_related(flow, steps, alerted)
        return flow

    @transaction.atomic
    def update(self, instance, validated_data):
        steps = validated_data.pop("steps", None)
        alerted = {name: validated_data.pop(name, None) for name in ALERTED}
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save()
        self._save_related(instance, steps, alerted)
        return instance


class FlowVersionOut(serializers.ModelSerializer):
    definition = ObjectField(read_only=True, help_text=gettext_lazy(
        "The trigger settings and steps as published."))
    current = serializers.SerializerMethodField()

    class Meta:
        model = FlowVersion
        fields = ["number", "current", "created_at", "created_by", "definition"]

    def get_current(self, obj) -> bool:
        return obj.number == obj.flow.version


class RunIn(StrictFields, serializers.Serializer):
    input = ObjectField(required=False, default=dict, help_text=gettext_lazy(
        "The run's input: steps read it as {{ input.<name> }}."))
    wait = serializers.BooleanField(required=False, default=False, help_text=gettext_lazy(
        "Run here and answer with the outcome (at most FLOW_CALL_TIMEOUT seconds) instead of "
        "queueing it for a worker."))


_CONFLICT = OpenApiResponse(OpenApiTypes.OBJECT, description=gettext_lazy("`detail` says why."))


@extend_schema(tags=["action flows"])
class ActionFlowViewSet(viewsets.ModelViewSet):
    """Action flows (动作流): a trigger and an ordered list of steps, versioned on every save
    that changes what a run does."""

    serializer_class = ActionFlowSerializer
    filterset_fields = ["enabled", "trigger"]
    search_fields = ["name"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return ActionFlow.objects.select_related("workflow").prefetch_related(
            "steps", "alert_persons", "alert_roles").order_by("-id")

    @extend_schema(responses={204: None, 409: _CONFLICT})
    def destroy(self, request, *args, **kwargs):
        """Delete the flow with its versions and runs. A push config of type ESB that names
        the flow keeps it: the answer is 409."""
        try:
            return super().destroy(request, *args, **kwargs)
        except ProtectedError as exc:
            return Response({"detail": exc.args[0]}, status=status.HTTP_409_CONFLICT)

    @extend_schema(responses={200: FlowVersionOut(many=True)})
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        """The flow's published versions, newest first, each with its frozen definition."""
        flow = self.get_object()
        queryset = FlowVersion.objects.filter(flow=flow).select_related("flow")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(FlowVersionOut(page, many=True).data)

    @extend_schema(request=RunIn, responses={
        202: OpenApiResponse(RunStartedOut, description=gettext_lazy(
            "Queued for a worker; or, with wait=true, still going after the time limit (it "
            "goes on on a worker).")),
        200: OpenApiResponse(FlowRunDetailOut,
                             description=gettext_lazy("wait=true: the finished run.")),
        409: _CONFLICT})
    @action(detail=True, methods=["post"], permission_classes=[CanRun & CanViewFlows],
            serializer_class=RunIn)
    def run(self, request, pk=None):
        """Run the flow with the given input. Needs actionflow.add_flowrun. A disabled flow
        runs too (it can be tried before it is enabled); its triggers are what the enabled
        switch turns off. Without `wait` the run is queued for a worker: 202 with its id.
        With `wait` it runs here: 200 with its outcome and step logs, or 202 when it did not
        finish within FLOW_CALL_TIMEOUT seconds."""
        flow = self.get_object()
        data = RunIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user.get_username()
        try:
            if data.validated_data["wait"]:
                run = engine.run_now(flow, FlowRun.Trigger.API, data.validated_data["input"],
                                     timeout=settings.FLOW_CALL_TIMEOUT, requested_by=user)
            else:
                with transaction.atomic():
                    run = engine.start(flow, FlowRun.Trigger.API, data.validated_data["input"],
                                       requested_by=user)
        except engine.FlowNotReady as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        if data.validated_data["wait"] and run.finished:
            run = FlowRun.objects.select_related("flow", "version").get(pk=run.pk)
            return Response(FlowRunDetailOut(run).data)
        return Response(started(run), status=status.HTTP_202_ACCEPTED)
