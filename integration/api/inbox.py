"""POST /api/v1/todo-events/ and /api/v1/workflow-events/: the inbox's REST doors.
GET on the same paths lists the accepted events (the audit trail)."""
import django_filters
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from ..events import TodoEventSerializer, WorkflowEventSerializer, validate_batch
from ..inbox import (
    ACCEPTED,
    DUPLICATE,
    INVALID,
    Outcome,
    ingest_todo_events,
    ingest_workflow_events,
)
from ..models import InboundEvent
from ..signals import workflow_events_answering
from .filters import MomentFilter
from .parsers import SafeJSONParser
from .serializers import InboundEventOut


def read_batch(data):
    """The body is one event object or a list of them. Returns (items, single, error response)."""
    single = isinstance(data, dict)
    items = [data] if single else data
    if not isinstance(items, list):
        return None, single, Response(
            {"non_field_errors": [_("Send one event object or a list of event objects.")]},
            status=status.HTTP_400_BAD_REQUEST)
    if not items:
        return None, single, Response({"non_field_errors": [_("The list of events is empty.")]},
                                      status=status.HTTP_400_BAD_REQUEST)
    if len(items) > settings.INBOX_MAX_BATCH:
        return None, single, Response(
            {"non_field_errors": [_("At most %(max)d events per call; this call has %(n)d.")
                                  % {"max": settings.INBOX_MAX_BATCH, "n": len(items)}]},
            status=status.HTTP_400_BAD_REQUEST)
    return items, single, None


def ingest_response(items, single, serializer_class, ingest):
    valid, errors = validate_batch(serializer_class, items)
    if single and errors:
        return Response(errors[0][2], status=status.HTTP_400_BAD_REQUEST)
    outcomes = ingest(valid) if valid else []
    outcomes += [Outcome(index, event_id, INVALID, errors=err) for index, event_id, err in errors]
    outcomes.sort(key=lambda o: o.index)
    counts = {name: sum(o.outcome == name for o in outcomes)
              for name in ("accepted", "duplicate", "invalid")}
    body = {**counts, "results": [o.as_dict() for o in outcomes]}
    if single:
        code = status.HTTP_201_CREATED if counts["accepted"] else status.HTTP_200_OK
    else:
        code = status.HTTP_400_BAD_REQUEST if counts["invalid"] == len(items) else status.HTTP_200_OK
    return Response(body, status=code)


class EventFilter(django_filters.FilterSet):
    received_after = MomentFilter(field_name="received_at", lookup_expr="gte")
    received_before = MomentFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = InboundEvent
        fields = ["event_id", "request_id", "receiver", "data_set", "business_status", "moment",
                  "source", "flagged", "applied", "workflow_id"]


class _InboxViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                    viewsets.GenericViewSet):
    serializer_class = InboundEventOut
    filterset_class = EventFilter
    parser_classes = [SafeJSONParser]
    kind = None
    event_serializer = None
    ingest = None

    def get_queryset(self):
        return InboundEvent.objects.filter(kind=self.kind)

    def create(self, request, *args, **kwargs):
        items, single, error = read_batch(request.data)
        if error:
            return error
        return ingest_response(items, single, self.event_serializer, type(self).ingest)


_ANSWER = OpenApiResponse(description=gettext_lazy(
    "Per-event outcomes: accepted, duplicate or invalid."))


@extend_schema(tags=["inbox"])
class TodoEventViewSet(_InboxViewSet):
    """Todo events: one object or a list of up to 1000. `event_id` makes a repeat a no-op."""

    kind = InboundEvent.Kind.TODO
    event_serializer = TodoEventSerializer
    ingest = staticmethod(ingest_todo_events)

    @extend_schema(request=TodoEventSerializer(many=True), responses={200: _ANSWER, 201: _ANSWER})
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)


@extend_schema(tags=["inbox"])
class WorkflowEventViewSet(_InboxViewSet):
    """A request reaching (`before`) or leaving (`after`) a node, with its form data and
    sign opinions as they stand at that moment. An event that "before" action flows watch is
    answered after those flows ran (within their time limits): its result carries `flows`
    (each run's status and message) and `proceed` (false: stop the node and show the
    messages)."""

    kind = InboundEvent.Kind.WORKFLOW
    event_serializer = WorkflowEventSerializer
    ingest = staticmethod(ingest_workflow_events)

    @extend_schema(request=WorkflowEventSerializer(many=True), responses={200: _ANSWER, 201: _ANSWER})
    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        results = response.data.get("results") if isinstance(response.data, dict) else None
        ids = [r["event_id"] for r in results or () if r["outcome"] in (ACCEPTED, DUPLICATE)]
        if ids:
            for _receiver, extra in workflow_events_answering.send(sender=type(self),
                                                                   event_ids=ids):
                for result in results:
                    result.update((extra or {}).get(result["event_id"], {}))
        return response
