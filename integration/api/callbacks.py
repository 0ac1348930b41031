"""/api/v1/callback-sources/ (CRUD; the system token is write-only, shown masked) and
/api/v1/callback-logs/ (read, and POST <id>/replay to apply a logged callback again)."""
import django_filters
from django.db.models import ProtectedError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from ..hooks import service
from ..hooks.errors import Refused
from ..hooks.mapping import ACTIONS
from ..models import CallbackLog, CallbackSource
from ..models.callbacks import token_validator
from ..secrets import mask
from .filters import MomentFilter


class CallbackSourceSerializer(serializers.ModelSerializer):
    system_token = serializers.CharField(
        write_only=True, required=False, allow_blank=True, validators=[token_validator],
        style={"input_type": "password"},
        help_text=gettext_lazy("The application's systemToken. Write-only; on update, leave "
                               "it out (or blank) to keep the current token."),
    )
    system_token_masked = serializers.SerializerMethodField(
        help_text=gettext_lazy("Shows that a token is set (long tokens: their last 4 characters)."))
    callback_urls = serializers.SerializerMethodField(
        help_text=gettext_lazy("The URL of each connector action to configure on the platform."))

    class Meta:
        model = CallbackSource
        fields = ["id", "name", "slug", "system_token", "system_token_masked", "app_type",
                  "corp_id", "enabled", "callback_urls", "created_at"]

    def get_system_token_masked(self, obj) -> str:
        return mask(obj.system_token)

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_callback_urls(self, obj):
        request = self.context.get("request")
        build = request.build_absolute_uri if request else (lambda path: path)
        return {name: build(obj.callback_path(name)) for name in ACTIONS}

    def validate(self, attrs):
        if not attrs.get("system_token"):
            attrs.pop("system_token", None)  # blank or absent keeps the current token
            if self.instance is None:
                raise serializers.ValidationError(
                    {"system_token": _("This field is required.")}, code="required")
        return attrs


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


@extend_schema(tags=["callbacks"])
class CallbackSourceViewSet(viewsets.ModelViewSet):
    """Sources of approval-task callbacks: one per app (system token) of the platform."""

    queryset = CallbackSource.objects.all()
    serializer_class = CallbackSourceSerializer
    filterset_fields = ["enabled", "slug", "app_type", "corp_id"]
    search_fields = ["name", "slug"]

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError:
            raise Conflict(_("This source has logged callbacks; disable it instead of deleting "
                             "it.")) from None


class CallbackLogOut(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = CallbackLog
        fields = ["id", "source", "action", "params", "request_id", "remote_addr", "received_at",
                  "event_ids", "replay_count", "last_replayed_at"]


class CallbackLogFilter(django_filters.FilterSet):
    source = django_filters.CharFilter(field_name="source__slug")
    received_after = MomentFilter(field_name="received_at", lookup_expr="gte")
    received_before = MomentFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = CallbackLog
        fields = ["action", "request_id"]


class CanReplay(BasePermission):
    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated
                    and user.has_perm("integration.replay_callbacklog"))


_REPLAYED = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description=gettext_lazy(
        "success, log_id, replay_count, last_replayed_at and the outcome of each event."))


@extend_schema(tags=["callbacks"])
class CallbackLogViewSet(viewsets.ReadOnlyModelViewSet):
    """Every accepted callback with its parameters as received, and the events it produced."""

    queryset = CallbackLog.objects.select_related("source")
    serializer_class = CallbackLogOut
    filterset_class = CallbackLogFilter

    @extend_schema(request=None, responses={200: _REPLAYED, 400: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], permission_classes=[CanReplay])
    def replay(self, request, pk=None):
        """Apply the callback again with fresh event ids. Needs the permission
        integration.replay_callbacklog. The inbox keeps any newer state."""
        log = self.get_object()
        try:
            result = service.replay(log.pk)
        except Refused as exc:
            return Response({"success": False, "errors": exc.errors},
                            status=status.HTTP_400_BAD_REQUEST)
        return Response({**result.as_dict(), "replay_count": result.log.replay_count,
                         "last_replayed_at": result.log.last_replayed_at},
                        status=status.HTTP_200_OK)
