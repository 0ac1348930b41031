"""/api/v1/push-logs/: the push log, read with indexed filters and cursor pagination; a
record's detail holds every attempt. POST repush (by ids or by the list's filters) and
POST delete (by ids) work on at most MAX_BULK records per call; DELETE <id> removes one."""
import django_filters
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integration.api.filters import IdFilter, MomentFilter
from integration.ids import BIGINT_MAX

from ..models import PushAttempt, PushRecord
from ..models.scope import restrict
from .configs import requires
from .operations import MAX_BULK, delete_records, repush


class PushAttemptOut(serializers.ModelSerializer):
    class Meta:
        model = PushAttempt
        fields = ["number", "started_at", "finished_at", "outcome", "http_status", "duration_ms",
                  "error_class", "request", "response"]


class PushRecordOut(serializers.ModelSerializer):
    config_identifier = serializers.CharField(source="config.identifier", read_only=True)

    class Meta:
        model = PushRecord
        fields = ["id", "config", "config_identifier", "event_id", "kind", "request_id",
                  "receiver", "identity", "creator", "workflow_id", "data_set",
                  "business_status", "outcome", "reason", "permanent", "attempts",
                  "next_attempt_at", "created_at", "pushed_at"]


class InFlightOut(serializers.Serializer):
    started_at = serializers.DateTimeField()
    number = serializers.IntegerField()


class PushRecordDetailOut(PushRecordOut):
    attempt_log = PushAttemptOut(many=True, read_only=True)
    # The try on the wire now, whose attempt is written with its answer (null: none).
    in_flight = InFlightOut(source="in_flight_try", read_only=True, allow_null=True)

    class Meta(PushRecordOut.Meta):
        fields = [*PushRecordOut.Meta.fields, "idempotency_key", "lane", "payload",
                  "in_flight", "attempt_log"]


class PushRecordFilter(django_filters.FilterSet):
    config = IdFilter(field_name="config_id")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = PushRecord
        fields = ["config", "outcome", "data_set", "receiver", "request_id", "workflow_id",
                  "event_id"]


def _ids(**kwargs):
    # bigint's range: SQLite cannot bind a larger integer (a 500)
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX),
        min_length=1, max_length=MAX_BULK, **kwargs)


class IdsIn(serializers.Serializer):
    ids = _ids()


class RepushIn(serializers.Serializer):
    ids = _ids(required=False, help_text=format_lazy(
        gettext_lazy("Records to re-push (at most {max})."), max=MAX_BULK))
    config = serializers.IntegerField(required=False)
    outcome = serializers.CharField(required=False)
    data_set = serializers.CharField(required=False)
    receiver = serializers.CharField(required=False)
    request_id = serializers.CharField(required=False)
    workflow_id = serializers.CharField(required=False)
    event_id = serializers.CharField(required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


_BULK = OpenApiResponse(OpenApiTypes.OBJECT, description=format_lazy(gettext_lazy(
    "How many records were handled, and `more`: true when over {max} matched and the "
    "rest wait for another call."), max=MAX_BULK))


def _refuse(errors):
    return Response(errors, status=status.HTTP_400_BAD_REQUEST)


@extend_schema(tags=["push"])
class PushRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The push log (推送日志): one record per (event, config) with its outcome and reason;
    the detail adds the data pushed and each attempt with the request sent and the answer."""

    filterset_class = PushRecordFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        query = PushRecord.objects.select_related("config")
        if self.action == "retrieve":
            query = query.prefetch_related("attempt_log")
        return restrict(query, self.request.user, "config__organization")

    def get_serializer_class(self):
        return PushRecordDetailOut if self.action == "retrieve" else PushRecordOut

    @extend_schema(request=RepushIn, responses={200: _BULK, 400: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"], url_path="repush",
            permission_classes=[requires("pushconfig.change_pushrecord")])
    def repush(self, request):
        """Set records back to pending and queue them: by `ids`, or by the list's filters
        (at least one). Intercepted and ignored records are pushed too. At most
        MAX_BULK per call; `more` says whether others matched. Needs
        pushconfig.change_pushrecord."""
        if not isinstance(request.data, dict):
            return _refuse({"non_field_errors": [_("Send an object.")]})
        allowed = set(RepushIn().fields)
        unknown = sorted(set(request.data) - allowed)
        if unknown:
            return _refuse({name: [_("Unknown field.")] for name in unknown})
        checked = RepushIn(data=request.data)
        if not checked.is_valid():
            return _refuse(checked.errors)
        queryset = self.get_queryset()
        if "ids" in request.data:
            if len(request.data) > 1:
                return _refuse({"non_field_errors": [_("Send ids or filters, not both.")]})
            queryset = queryset.filter(pk__in=checked.validated_data["ids"])
        else:
            if not request.data:
                return _refuse({"non_field_errors": [
                    _("Name the records: ids, or at least one filter.")]})
            filters = PushRecordFilter(data=request.data, queryset=queryset)
            if not filters.is_valid():
                return _refuse(filters.errors)
            queryset = filters.qs
        count, more = repush(queryset)
        return Response({"repushed": count, "more": more})

    @extend_schema(request=IdsIn, responses={200: _BULK, 400: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"], url_path="delete",
            permission_classes=[requires("pushconfig.delete_pushrecord")])
    def bulk_delete(self, request):
        """Delete records by `ids` (at most MAX_BULK), with their attempts. Needs
        pushconfig.delete_pushrecord."""
        checked = IdsIn(data=request.data)
        if not checked.is_valid():
            return _refuse(checked.errors)
        count, _more = delete_records(
            self.get_queryset().filter(pk__in=checked.validated_data["ids"]))
        return Response({"deleted": count})
