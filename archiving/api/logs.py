"""/api/v1/archive-logs/: the archive log (归档日志), read-only, filtered on indexed columns,
cursor-paginated; POST <id>/rearchive re-archives (重新手动归档) a row's request with the same
scheme and the request's current data, as a new row linked to the old one."""
import django_filters
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integration.api.filters import IdFilter, MomentFilter

from ..models import ArchiveLog
from ..service import RearchiveRefused, rearchive
from . import requires


class ArchiveLogSerializer(serializers.ModelSerializer):
    scheme = serializers.SerializerMethodField(help_text=gettext_lazy("The scheme id, as text."))
    exported_data = serializers.SerializerMethodField(
        help_text=gettext_lazy(
            "The data as exported, by file of the package (detail only; null in lists)."))
    target_answer = serializers.SerializerMethodField(
        help_text=gettext_lazy("The target's answer, trimmed (detail only; null in lists)."))

    class Meta:
        model = ArchiveLog
        fields = ["id", "scheme", "scheme_name", "request_id", "workflow_id", "trigger",
                  "node_name", "moment", "data_source", "source_event_id", "outcome",
                  "permanent", "message", "target", "target_name", "package_name", "checksum",
                  "size", "http_status", "location", "attempts", "operator", "rearchive_of",
                  "created_at", "finished_at", "duration_ms", "exported_data", "target_answer"]

    def get_scheme(self, obj) -> str | None:
        return None if obj.scheme_id is None else str(obj.scheme_id)

    def _detail(self):
        view = self.context.get("view")
        return view is None or getattr(view, "action", "") != "list"

    def get_exported_data(self, obj) -> dict | None:
        return obj.exported_data if self._detail() else None

    def get_target_answer(self, obj) -> str | None:
        return obj.target_answer if self._detail() else None


class ArchiveLogFilter(django_filters.FilterSet):
    scheme = IdFilter(field_name="scheme_id")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ArchiveLog
        # Each filter is served by an index (the list is ordered by id).
        fields = ["scheme", "outcome", "trigger", "request_id", "rearchive_of"]


@extend_schema(tags=["archive"])
class ArchiveLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    """The archive log: one row per export with its trigger, outcome, message, the package's
    SHA-256 and size; the detail adds the data as exported and the target's answer."""

    serializer_class = ArchiveLogSerializer
    queryset = ArchiveLog.objects.all()
    filterset_class = ArchiveLogFilter
    lookup_value_regex = r"\d{1,19}"

    @extend_schema(request=None, responses={201: ArchiveLogSerializer, 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], url_path="rearchive",
            permission_classes=[requires("archiving.add_archivelog")])
    def rearchive(self, request, pk=None):
        """Manual re-archive: the row's scheme, the request's current data, a new row linked
        by rearchive_of (answered, 201, whatever the outcome: `outcome` tells). 409 when the
        scheme or the request is gone. Needs archiving.add_archivelog."""
        entry = self.get_object()
        try:
            new = rearchive(entry, operator=request.user.get_username())
        except RearchiveRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(new).data, status=status.HTTP_201_CREATED)
