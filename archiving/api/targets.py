"""/api/v1/archive-targets/ (CRUD, POST <id>/test-connection) and /api/v1/archive-target-kinds/
(each kind with its parameters).

Parameters are validated by the kind (archiving.targets), as in the admin. The token is
write-only: answers show it masked; sent blank, left out or sent back masked, it keeps the
stored value (as long as the kind stays the same).
"""
from django.db.models import ProtectedError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integration.events import check_text
from integration.secrets import MASK

from ..models import ArchiveTarget
from ..targets import REGISTRY, ParamsInvalid, UnknownKind, get_kind_class, kind_choices
from . import requires


def is_kept(value):
    """A secret's value that means "keep the stored one": blank, or the mask shown for it."""
    return value in (None, "") or (isinstance(value, str) and value.startswith(MASK))


@extend_schema_field({"type": "object", "additionalProperties": True,
                      "description": gettext_lazy(
                          "The kind's parameters (see /api/v1/archive-target-kinds/).")})
class ParamsField(serializers.JSONField):
    pass


class ArchiveTargetSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=kind_choices())
    kind_label = serializers.SerializerMethodField()
    params = ParamsField(required=False, help_text=gettext_lazy(
        "The kind's parameters. On PATCH, parameters left out keep their values."))
    secret = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=True, max_length=4000,
        help_text=gettext_lazy("The token (HTTP: the token header's value). Write-only: shown "
                               "masked; send it blank, leave it out or send the mask back to "
                               "keep the stored one."))

    class Meta:
        model = ArchiveTarget
        fields = ["id", "name", "kind", "kind_label", "params", "secret", "created_at",
                  "updated_at"]

    def validate_name(self, value):
        return check_text(value)

    def validate_secret(self, value):
        return check_text(value)

    def get_kind_label(self, obj) -> str:
        return obj.kind_label()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["secret"] = instance.masked_secret()
        return data

    def validate(self, attrs):
        instance = self.instance
        kind = attrs.get("kind", instance.kind if instance else "")
        try:
            cls = get_kind_class(kind)
        except UnknownKind as exc:
            raise serializers.ValidationError({"kind": [str(exc)]}) from None
        same_kind = instance is not None and instance.kind == kind
        secret = attrs.get("secret")
        if is_kept(secret):
            secret = instance.secret if same_kind else ""
        if secret and not cls.secret_label:
            raise serializers.ValidationError({"secret": [_("This target kind takes no token.")]})
        if "params" in attrs:
            params = attrs["params"]
            if self.partial and same_kind and isinstance(params, dict):
                params = {**instance.params, **params}
        else:
            params = instance.params if same_kind else {}
        try:
            attrs["params"] = cls.validate_params(params, secret)
        except ParamsInvalid as exc:
            raise serializers.ValidationError({"params": exc.errors}) from None
        attrs["secret"] = secret
        return attrs


class ConnectionOut(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    permanent = serializers.BooleanField()
    http_status = serializers.IntegerField(allow_null=True)
    answer = serializers.CharField(help_text=gettext_lazy("What the target said (trimmed)."))
    duration_ms = serializers.IntegerField(allow_null=True)


def connection_as_dict(result):
    return {"ok": result.ok, "message": result.message, "permanent": result.permanent,
            "http_status": result.http_status, "answer": result.answer,
            "duration_ms": result.duration_ms}


def check_connection(target):
    """The target's connection test; never raises (a broken row is an answer too)."""
    from ..targets import Delivery

    try:
        return target.test_connection()
    except Exception as exc:  # the administrator needs the reason, not a 500
        return Delivery(False, _("The connection test could not run: %(error)s")
                        % {"error": exc}, permanent=True)


@extend_schema(tags=["archive"])
class ArchiveTargetViewSet(viewsets.ModelViewSet):
    """Archive targets: where schemes hand their packages (an HTTP archive system, a
    directory)."""

    serializer_class = ArchiveTargetSerializer
    queryset = ArchiveTarget.objects.all()
    filterset_fields = ["kind"]
    search_fields = ["name"]
    lookup_value_regex = r"\d+"

    def destroy(self, request, *args, **kwargs):
        try:
            return super().destroy(request, *args, **kwargs)
        except ProtectedError:
            return Response({"detail": _("Archive schemes use this target; point them "
                                         "elsewhere first.")}, status=status.HTTP_409_CONFLICT)

    @extend_schema(request=None, responses={200: ConnectionOut})
    @action(detail=True, methods=["post"], url_path="test-connection",
            permission_classes=[requires("archiving.change_archivetarget")])
    def test_connection(self, request, pk=None):
        """Test the target without archiving anything (HTTP: a GET of the upload URL with the
        token; directory: a probe file written and removed). 200 whatever the result: `ok`
        tells. Needs archiving.change_archivetarget."""
        return Response(connection_as_dict(check_connection(self.get_object())))


class KindParamOut(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    required = serializers.BooleanField()
    help_text = serializers.CharField()
    default = serializers.JSONField(required=False)


class TargetKindOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    params = KindParamOut(many=True)
    secret_label = serializers.CharField(help_text=gettext_lazy(
        "Empty when the kind takes no token."))


def kind_entry(key, cls):
    params = []
    for name, field in cls.Params().fields.items():
        entry = {"name": name, "label": str(field.label or name),
                 "required": bool(field.required), "help_text": str(field.help_text or "")}
        if field.default is not serializers.empty:
            entry["default"] = field.default() if callable(field.default) else field.default
        params.append(entry)
    return {"key": key, "label": str(cls.label), "description": str(cls.description),
            "params": params, "secret_label": str(cls.secret_label or "")}


@extend_schema(tags=["archive"])
class ArchiveTargetKindViewSet(viewsets.ViewSet):
    """The registered archive target kinds and their parameters. Needs
    archiving.view_archivetarget."""

    permission_classes = [requires("archiving.view_archivetarget")]

    @extend_schema(responses={200: TargetKindOut(many=True)})
    def list(self, request):
        return Response([kind_entry(key, cls) for key, cls in REGISTRY.items()])
