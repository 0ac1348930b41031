"""Directory and catalog sync (bulk upsert), and read access to requests and todo items."""
import django_filters
from django.conf import settings
from django.db import connection
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from kombu import Connection
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from .. import sync
from ..models import Request, TodoItem
from .filters import MomentFilter
from .inbox import read_batch
from .parsers import SafeJSONParser
from .permissions import ModelPermissions
from .serializers import (
    DepartmentOut,
    GroupOut,
    IdentityOut,
    PersonOut,
    PostOut,
    RequestOut,
    RoleOut,
    SubcompanyOut,
    TodoItemOut,
    WorkflowOut,
    WorkflowTypeOut,
)

# DRF's default ("[^/.]+") also lets a NUL through, which PostgreSQL refuses in a text
# comparison (a 500); such an address names nothing: a 404.
LOOKUP_TEXT = "[^/.\x00]+"


class UpsertPermissions(ModelPermissions):
    """An upsert both adds and changes, so it needs both permissions."""

    perms_map = {
        **ModelPermissions.perms_map,
        "POST": ["%(app_label)s.add_%(model_name)s", "%(app_label)s.change_%(model_name)s"],
    }


class SyncViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """GET lists; POST upserts one item or a list of up to 1000, keyed by the OA's id."""

    permission_classes = [UpsertPermissions]
    parser_classes = [SafeJSONParser]
    kind = None

    def get_queryset(self):
        return self.queryset

    @extend_schema(responses={200: OpenApiResponse(
        description=gettext_lazy("Per-item outcomes: created, updated or invalid."))})
    def create(self, request, *args, **kwargs):
        items, single, error = read_batch(request.data)
        if error:
            return error
        results = sync.upsert(sync.KINDS[self.kind], items)
        if single and results[0]["outcome"] == sync.INVALID:
            return Response(results[0]["errors"], status=status.HTTP_400_BAD_REQUEST)
        counts = {name: sum(r["outcome"] == name for r in results)
                  for name in (sync.CREATED, sync.UPDATED, sync.INVALID)}
        all_invalid = counts[sync.INVALID] == len(results)
        code = status.HTTP_400_BAD_REQUEST if all_invalid else status.HTTP_200_OK
        return Response({**counts, "results": results}, status=code)


def _sync_viewset(path, serializer, filters, search, select=(), prefetch=()):
    """A SyncViewSet for one kind; `path` is "<tag>/<kind>" as in the URL."""
    tag, kind = path.split("/")
    spec = sync.KINDS[kind]
    attrs = {
        "kind": kind,
        "queryset": spec.model.objects.select_related(*select).prefetch_related(*prefetch),
        "serializer_class": serializer,
        "filterset_fields": filters,
        "search_fields": search,
        "lookup_field": spec.key,
        "lookup_value_regex": LOOKUP_TEXT,
        "__doc__": f"Sync of {spec.model._meta.verbose_name_plural}: GET lists, POST upserts.",
    }
    name = "".join(part.title() for part in kind.split("-")) + "SyncViewSet"
    return extend_schema(tags=[tag])(type(name, (SyncViewSet,), attrs))


_NAMED = ["name", "external_id"]
SYNC_VIEWSETS = {path: _sync_viewset(path, *args) for path, *args in [
    ("directory/subcompanies", SubcompanyOut, ["active"], _NAMED, ["parent"]),
    ("directory/departments", DepartmentOut, ["active", "subcompany__external_id"], _NAMED,
     ["subcompany", "parent"]),
    ("directory/posts", PostOut, ["active"], _NAMED, ["department"]),
    ("directory/persons", PersonOut, ["active", "login_id", "work_code", "department__external_id"],
     ["name", "login_id", "work_code", "email", "mobile"], ["subcompany", "department", "post"]),
    ("directory/roles", RoleOut, ["active"], _NAMED, (), ["members"]),
    ("directory/groups", GroupOut, ["active"], _NAMED, (), ["members"]),
    ("directory/identities", IdentityOut, ["active", "person__external_id"],
     ["external_id", "person__name"], ["person", "subcompany", "department", "post"]),
    ("catalog/workflow-types", WorkflowTypeOut, [], _NAMED),
    ("catalog/workflows", WorkflowOut, ["active", "workflow_type__external_id"],
     ["name", "workflow_id"], ["workflow_type"], ["nodes"]),
]}


class RequestFilter(django_filters.FilterSet):
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Request
        fields = ["status", "creator", "workflow_ref"]


@extend_schema(tags=["state"])
class RequestViewSet(viewsets.ReadOnlyModelViewSet):
    """Requests (workflow instances) as the console holds them."""

    queryset = Request.objects.all()
    serializer_class = RequestOut
    filterset_class = RequestFilter
    search_fields = ["title", "request_id"]
    lookup_field = "request_id"
    lookup_value_regex = LOOKUP_TEXT


class TodoItemFilter(django_filters.FilterSet):
    request_id = django_filters.CharFilter(field_name="request__request_id")
    workflow_id = django_filters.CharFilter(field_name="request__workflow_ref")

    class Meta:
        model = TodoItem
        fields = ["receiver", "identity", "data_set", "business_status", "viewed", "task_id"]


@extend_schema(tags=["state"])
class TodoItemViewSet(viewsets.ReadOnlyModelViewSet):
    """The current state of each (request, receiver, identity)."""

    queryset = TodoItem.objects.select_related("request")
    serializer_class = TodoItemOut
    filterset_class = TodoItemFilter


@extend_schema(tags=["health"], responses={
    200: OpenApiResponse(description=gettext_lazy("All parts answer.")),
    503: OpenApiResponse(description=gettext_lazy("A part does not answer."))})
@api_view(["GET"])
@permission_classes([AllowAny])
def health(request):
    """Whether the database and the broker answer. Says nothing else, so it may stay public."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # any failure is the answer here, not an error of this view
        checks["database"] = "unavailable"
    try:
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=3,
                        transport_options=options) as conn:
            conn.ensure_connection(max_retries=1)
        checks["broker"] = "ok"
    except Exception:
        checks["broker"] = "unavailable"
    healthy = all(v == "ok" for v in checks.values())
    # Read by monitoring, so the values are codes, not translated text.
    return Response({"status": "ok" if healthy else "degraded", **checks},
                    status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)
