"""/api/v1/push-configs/ (CRUD, and POST <id>/test-connection) and /api/v1/push-types/ (each
push type with its parameter schema and suite parameters).

Parameters are validated by `pushconfig.params.validate_params`, the function the admin form
uses. Secrets are write-only: answers show them masked, and a secret sent blank, left out, or
sent back masked keeps the stored value.
"""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from integration.api.fields import SlugRelatedField
from integration.models import Person, Role, Subcompany, Workflow, WorkflowType
from integration.notify import validate_channel_keys
from integration.vocabulary import BUSINESS_STATUSES_BY_DATA_SET, DataSet

from ..cron import compensation_cron_error, parse
from ..models import PersonRule, PushConfig
from ..models.scope import restrict, scoped_organization
from ..params import (
    ParamsInvalid,
    params_schema,
    store_params,
    stored_class,
    transport_class,
    validate_params,
)
from ..transports import CUSTOM, REGISTRY, UnknownTransport
from .operations import check_connection, delivery_as_dict


def requires(perm):
    """A permission class that asks for one model permission."""

    class HasPermission(BasePermission):
        def has_permission(self, request, view):
            user = request.user
            return bool(user and user.is_authenticated and user.has_perm(perm))

    HasPermission.__name__ = "Has_" + perm.replace(".", "_")
    return HasPermission


class PersonRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = PersonRule
        fields = ["kind", "target"]

    def validate(self, attrs):
        if attrs["kind"] != PersonRule.Kind.EVERYONE and not attrs.get("target"):
            raise serializers.ValidationError({"target": _("Name the entry's OA id.")})
        if attrs["kind"] == PersonRule.Kind.EVERYONE:
            attrs["target"] = ""
        return attrs


@extend_schema_field({"type": "object", "additionalProperties": True,
                      "description": gettext_lazy(
                          "The push type's parameters (see /api/v1/push-types/).")})
class ParamsField(serializers.JSONField):
    pass


# Many-to-many fields of failure alerts, saved after the config.
ALERTED = ("alert_persons", "alert_roles")


class PushConfigSerializer(serializers.ModelSerializer):
    push_type = serializers.CharField(
        max_length=40, help_text=gettext_lazy("A key of /api/v1/push-types/, or “custom”."))
    implementation = serializers.CharField(
        max_length=200, required=False, allow_blank=True,
        help_text=gettext_lazy("For the custom push type: the key of a registered custom "
                               "class. Filled from the push type otherwise."))
    push_type_label = serializers.SerializerMethodField()
    params = ParamsField(
        required=False,
        help_text=gettext_lazy("The push type's parameters. Secrets are write-only and shown "
                               "masked; send one blank, leave it out or send the mask back to "
                               "keep the stored value. On PATCH, parameters left out keep "
                               "their values."))
    organization = SlugRelatedField(
        slug_field="external_id", queryset=Subcompany.objects.all(), allow_null=True,
        required=False,
        help_text=gettext_lazy("The OA id of the owning subcompany (decentralised "
                               "administration). A scoped administrator may only name theirs."))
    person_rules = PersonRuleSerializer(many=True, required=False)
    scope_workflows = SlugRelatedField(
        slug_field="workflow_id", many=True, required=False, queryset=Workflow.objects.all())
    intercepted_workflow_types = SlugRelatedField(
        slug_field="external_id", many=True, required=False, queryset=WorkflowType.objects.all())
    intercepted_statuses = serializers.JSONField(
        required=False,
        help_text=gettext_lazy("Per data set, the business statuses not pushed, e.g. "
                               "{\"todo\": [\"cc\"]}."))
    alert_channels = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text=gettext_lazy("Alert channels, keys of the registered ones: im, cloud_bridge, "
                               "email, sms."))
    alert_persons = SlugRelatedField(
        slug_field="login_id", many=True, required=False, queryset=Person.objects.all(),
        help_text=gettext_lazy("Login ids of the persons to alert (main identity)."))
    alert_roles = SlugRelatedField(
        slug_field="external_id", many=True, required=False, queryset=Role.objects.all(),
        help_text=gettext_lazy("OA ids of the roles whose members are alerted."))

    class Meta:
        model = PushConfig
        fields = ["id", "enabled", "identifier", "system_name", "organization", "server_url",
                  "person_mapping", "push_type", "implementation", "push_type_label", "params",
                  "filter_duplicates", "backfill_missing_todo", "person_scope", "person_rules",
                  "workflow_scope", "scope_workflows", "business_interception",
                  "intercepted_statuses", "intercepted_workflow_types", "created_at",
                  "updated_at"]
        fields += ["fuse_threshold", "fuse_cooldown", "alert_channels", "alert_persons",
                   "alert_roles", "alert_subject", "alert_content"]
        fields += ["compensation_enabled", "compensation_cron", "compensation_next_runs",
                   "compensation_retries", "compensation_wait", "cleanup_enabled",
                   "cleanup_hour", "cleanup_keep_days"]

    compensation_next_runs = serializers.SerializerMethodField(
        help_text=gettext_lazy("The next run times of the compensation cron, in the console's "
                               "time zone (also GET <id>/schedule-preview)."))

    def get_compensation_next_runs(self, obj) -> list[str]:
        if compensation_cron_error(False, obj.compensation_cron) or not obj.compensation_cron:
            return []
        return [run.isoformat() for run in parse(obj.compensation_cron).next_runs(PREVIEW_RUNS)]

    def validate_compensation_cron(self, value):
        return " ".join(value.split())

    def get_push_type_label(self, obj) -> str:
        try:
            return str(obj.transport_class.label)
        except UnknownTransport:
            return ""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        try:
            data["params"] = instance.masked_params()
        except UnknownTransport:
            data["params"] = {}
        return data

    def validate_alert_channels(self, value):
        try:
            return validate_channel_keys(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate_intercepted_statuses(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError(_("Send an object: data set → list of statuses."))
        errors = {}
        for data_set, statuses in value.items():
            if data_set not in DataSet.values:
                errors[data_set] = [_("Not a data set.")]
                continue
            allowed = BUSINESS_STATUSES_BY_DATA_SET[DataSet(data_set)]
            if not isinstance(statuses, list) or any(s not in allowed for s in statuses):
                errors[data_set] = [_("Use business statuses of this data set: %(allowed)s.")
                                    % {"allowed": ", ".join(allowed)}]
        if errors:
            raise serializers.ValidationError(errors)
        return {k: list(dict.fromkeys(v)) for k, v in value.items() if v}

    def validate(self, attrs):
        instance = self.instance
        problem = compensation_cron_error(
            attrs.get("compensation_enabled", instance.compensation_enabled if instance else False),
            attrs.get("compensation_cron", instance.compensation_cron if instance else ""))
        if problem:
            raise serializers.ValidationError({"compensation_cron": [problem]})
        push_type = attrs.get("push_type", instance.push_type if instance else "")
        implementation = attrs.get("implementation", instance.implementation if instance else "")
        if push_type != CUSTOM:
            implementation = ""
        try:
            cls = transport_class(push_type, implementation)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        attrs["push_type"] = push_type
        attrs["implementation"] = implementation if cls.custom else cls.implementation

        self.previous_class = stored_class(instance)
        self.cleaned_params = None
        if "params" in attrs or self.previous_class is not cls:
            data = attrs.pop("params", None)
            if data is None:
                data = {}
            if self.partial and self.previous_class is cls and isinstance(data, dict):
                kept = {k: v for k, v in instance.get_params().items()
                        if k not in cls.secret_params and k in cls.Params().fields}
                data = {**kept, **data}
            try:
                self.cleaned_params = validate_params(push_type, implementation, data, instance)
            except ParamsInvalid as exc:
                raise serializers.ValidationError({"params": exc.errors}) from None
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from None

        organization = scoped_organization(self.context["request"].user)
        if organization is not None:
            named = attrs.get("organization", organization)
            if named != organization:
                raise serializers.ValidationError({"organization": _(
                    "You administer %(organization)s only.") % {"organization": organization}})
            attrs["organization"] = organization
        return attrs

    def _save_relations(self, config, rules, workflows, types, alerted=None):
        for name, values in (alerted or {}).items():
            if values is not None:
                getattr(config, name).set(values)
        if workflows is not None:
            config.scope_workflows.set(workflows)
        if types is not None:
            config.intercepted_workflow_types.set(types)
        if rules is not None:
            config.person_rules.all().delete()
            PersonRule.objects.bulk_create(PersonRule(config=config, **rule) for rule in rules)

    @transaction.atomic
    def create(self, validated_data):
        rules = validated_data.pop("person_rules", None)
        workflows = validated_data.pop("scope_workflows", None)
        types = validated_data.pop("intercepted_workflow_types", None)
        alerted = {name: validated_data.pop(name, None) for name in ALERTED}
        config = PushConfig(**validated_data)
        store_params(config, self.cleaned_params)
        config.save()
        self._save_relations(config, rules, workflows, types, alerted)
        return config

    @transaction.atomic
    def update(self, instance, validated_data):
        rules = validated_data.pop("person_rules", None)
        workflows = validated_data.pop("scope_workflows", None)
        types = validated_data.pop("intercepted_workflow_types", None)
        alerted = {name: validated_data.pop(name, None) for name in ALERTED}
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if self.cleaned_params is not None:
            store_params(instance, self.cleaned_params, self.previous_class)
        instance.save()
        self._save_relations(instance, rules, workflows, types, alerted)
        return instance


# Next run times shown by default, and the most a preview lists.
PREVIEW_RUNS, MAX_PREVIEW_RUNS = 5, 50


class ScheduleOut(serializers.Serializer):
    scheduled = serializers.BooleanField(help_text=gettext_lazy("Whether beat runs it (enabled)."))
    crontab = serializers.DictField(allow_null=True,
                                    help_text=gettext_lazy(
                                        "The django-celery-beat crontab fields."))
    next_runs = serializers.ListField(child=serializers.DateTimeField())


class SchedulePreviewOut(serializers.Serializer):
    compensation_cron = serializers.CharField()
    time_zone = serializers.CharField()
    compensation = ScheduleOut()
    cleanup = ScheduleOut()


class DeliveryOut(serializers.Serializer):
    ok = serializers.BooleanField()
    reason = serializers.CharField()
    permanent = serializers.BooleanField()
    http_status = serializers.IntegerField(allow_null=True)
    request = serializers.DictField(help_text=gettext_lazy("What was sent, secrets masked."))
    response = serializers.CharField(help_text=gettext_lazy("The target's answer, as received."))
    duration_ms = serializers.IntegerField(allow_null=True)
    error_class = serializers.CharField()


@extend_schema(tags=["push"])
class PushConfigViewSet(viewsets.ModelViewSet):
    """Push configs (统一待办推送设置): one target system each. A scoped administrator
    (decentralised administration) sees and edits only its organization's configs."""

    serializer_class = PushConfigSerializer
    filterset_fields = ["enabled", "push_type", "identifier"]
    search_fields = ["system_name", "identifier"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        query = PushConfig.objects.select_related("organization").prefetch_related(
            "person_rules", "scope_workflows", "intercepted_workflow_types", "alert_persons",
            "alert_roles")
        return restrict(query, self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter("cron", str, description=gettext_lazy(
                "A cron expression to preview instead of the saved one (nothing is saved).")),
            OpenApiParameter("count", int, description=gettext_lazy(
                "How many run times (1–50, default 5).")),
        ],
        responses={200: SchedulePreviewOut})
    @action(detail=True, methods=["get"], url_path="schedule-preview")
    def schedule_preview(self, request, pk=None):
        """The next run times of the config's compensation (its saved cron, or `cron`) and
        cleanup, in the console's time zone. An expression that cannot be scheduled is a 400
        naming `compensation_cron`."""
        from django.conf import settings

        config = self.get_object()
        expression = " ".join(request.query_params.get("cron", config.compensation_cron).split())
        try:
            count = min(max(int(request.query_params.get("count", PREVIEW_RUNS)), 1),
                        MAX_PREVIEW_RUNS)
        except ValueError:
            raise serializers.ValidationError(
                {"count": [_("Give a whole number from 1 to %(max)d.") % {"max": MAX_PREVIEW_RUNS}]}
            ) from None
        problem = compensation_cron_error(False, expression)
        if problem:
            raise serializers.ValidationError({"compensation_cron": [problem]})
        compensation = {"scheduled": config.enabled and config.compensation_enabled and
                        bool(expression), "crontab": None, "next_runs": []}
        if expression:
            cron = parse(expression)
            compensation.update(crontab=cron.crontab_fields(), next_runs=cron.next_runs(count))
        daily = parse(f"0 {config.cleanup_hour} * * *")
        cleanup = {"scheduled": config.cleanup_enabled, "crontab": daily.crontab_fields(),
                   "next_runs": daily.next_runs(count)}
        return Response(SchedulePreviewOut({
            "compensation_cron": expression, "time_zone": settings.TIME_ZONE,
            "compensation": compensation, "cleanup": cleanup}).data)

    @extend_schema(request=None, responses={200: DeliveryOut})
    @action(detail=True, methods=["post"], url_path="test-connection",
            permission_classes=[requires("pushconfig.change_pushconfig")])
    def test_connection(self, request, pk=None):
        """Send the push type's harmless test request and answer with the target's reply.
        Needs pushconfig.change_pushconfig. The answer is 200 whatever the target said:
        `ok` tells."""
        return Response(delivery_as_dict(check_connection(self.get_object())))


class ParamSchemaOut(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField()
    required = serializers.BooleanField()
    secret = serializers.BooleanField()
    help_text = serializers.CharField()
    choices = serializers.ListField(child=serializers.DictField(), required=False)
    default = serializers.JSONField(required=False)
    max_length = serializers.IntegerField(required=False)


class PushTypeOut(serializers.Serializer):
    key = serializers.CharField(help_text=gettext_lazy("The registry key."))
    push_type = serializers.CharField(help_text=gettext_lazy(
        "What to send as push_type (“custom” for custom classes, whose key is then the "
        "implementation)."))
    label = serializers.CharField()
    implementation = serializers.CharField(help_text=gettext_lazy(
        "The implementation class name."))
    custom = serializers.BooleanField()
    params = ParamSchemaOut(many=True)
    secret_params = serializers.ListField(child=serializers.CharField())
    suite_params = serializers.ListField(child=serializers.CharField())


def push_type_entry(key, cls):
    return {"key": key, "push_type": CUSTOM if cls.custom else key, "label": str(cls.label),
            "implementation": cls.implementation, "custom": cls.custom,
            "params": params_schema(cls), "secret_params": list(cls.secret_params),
            "suite_params": list(cls.suite_params)}


@extend_schema(tags=["push"])
class PushTypeViewSet(viewsets.ViewSet):
    """The registered push types with their parameters: what the admin form shows and what
    push-configs validates. Needs pushconfig.view_pushconfig."""

    permission_classes = [requires("pushconfig.view_pushconfig")]

    @extend_schema(responses={200: PushTypeOut(many=True)})
    def list(self, request):
        return Response([push_type_entry(key, cls) for key, cls in REGISTRY.items()])

