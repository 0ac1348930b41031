"""/api/v1/flow-runs/: the runs of action flows, read-only (cursor-paginated list with
filters, detail with every step's log), and POST <id>/rerun to run one again from the start
with the version it ran or the flow's current one."""
import django_filters
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integration.api.filters import MomentFilter

from .. import engine
from ..models import FlowRun
from .common import (
    CanRun,
    CanViewRuns,
    FlowRunDetailOut,
    FlowRunOut,
    RunStartedOut,
    StrictFields,
    started,
)


class FlowRunFilter(django_filters.FilterSet):
    created_after = MomentFilter(
        field_name="created_at", lookup_expr="gte",
        help_text=gettext_lazy("Runs created at or after this time (ISO 8601)."))
    created_before = MomentFilter(
        field_name="created_at", lookup_expr="lt",
        help_text=gettext_lazy("Runs created before this time (ISO 8601)."))

    class Meta:
        model = FlowRun
        fields = ["flow", "status", "trigger", "event_id"]


class RerunIn(StrictFields, serializers.Serializer):
    version = serializers.ChoiceField(
        choices=[("same", gettext_lazy("the version it ran")),
                 ("current", gettext_lazy("the flow's current version"))],
        default="same", required=False)


@extend_schema(tags=["action flows"])
class FlowRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Runs of action flows, newest first: trigger, input, status, message, and on the
    detail each step's input, output, error and duration."""

    filterset_class = FlowRunFilter
    search_fields = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        queryset = FlowRun.objects.select_related("flow", "version")
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("steps")
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return FlowRunDetailOut
        if self.action == "rerun":
            return RerunIn
        return FlowRunOut

    @extend_schema(request=RerunIn, responses={
        202: RunStartedOut,
        409: OpenApiResponse(OpenApiTypes.OBJECT,
                             description=gettext_lazy("`detail` says why."))})
    @action(detail=True, methods=["post"], permission_classes=[CanRun & CanViewRuns])
    def rerun(self, request, pk=None):
        """Run this run's input again from the start, as a new run (trigger `rerun`, linked
        by `rerun_of`): with the version it ran (`same`, the default) or the flow's current
        one. Needs actionflow.add_flowrun."""
        run = self.get_object()
        data = RerunIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            new = engine.rerun(run, current=data.validated_data["version"] == "current",
                               user=request.user.get_username())
        except engine.FlowNotReady as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(started(new), status=status.HTTP_202_ACCEPTED)
