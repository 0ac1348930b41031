"""/api/v1/push-tasks/: batch push tasks (批量推送任务).

Create (POST, filters validated by `pushconfig.models.task.clean_filters`, the function the
admin form uses), list (the last 7 days unless `since` says otherwise), detail, DELETE, and
POST <id>/pause, resume, retry, cancel — an operation the task's status does not allow is a
409 naming that status. POST preview counts what filters match; GET <id>/failures lists the
records that failed for good and GET <id>/failures.xlsx exports them as a spreadsheet.
"""
import datetime as dt

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from integration.api.filters import IdFilter
from integration.events import fits_utc

from .. import batch
from ..models import PushConfig, PushRecord, PushTask
from ..models.scope import restrict
from ..models.task import TaskMode, clean_filters
from .configs import requires

DEFAULT_DAYS = 7


@extend_schema_field({"type": "object", "additionalProperties": True})
class FiltersField(serializers.JSONField):
    pass


FILTERS_HELP = gettext_lazy(
    "Optional, each a list: creator, receiver, request_id (ids as text), workflow_type (OA ids "
    "of workflow types), data_set (realtime: todo, done — both when left out; history: todo, "
    "done, over, delete), and created_after / created_before (ISO 8601; realtime: the "
    "request's creation time, history: the record's trigger time; from inclusive, until "
    "exclusive).")


class TaskIn(serializers.Serializer):
    mode = serializers.ChoiceField(choices=TaskMode.choices)
    config = serializers.PrimaryKeyRelatedField(queryset=PushConfig.objects.none(),
                                                help_text=gettext_lazy("The push config's id."))
    filters = FiltersField(required=False, default=dict, help_text=FILTERS_HELP)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:  # (the schema generator has none)
            self.fields["config"].queryset = restrict(PushConfig.objects.all(), request.user)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        try:
            attrs["filters"] = clean_filters(attrs["mode"], attrs.get("filters"))
        except DjangoValidationError as exc:
            errors = exc.message_dict
            # Per filter, or one message when the filters are not an object at all.
            raise serializers.ValidationError(
                {"filters": errors["filters"] if set(errors) == {"filters"} else errors}) from None
        return attrs


class TaskCreateIn(TaskIn):
    def validate_config(self, config):
        if not config.enabled:
            raise serializers.ValidationError(_(
                "The push config “%(config)s” is disabled: its records would wait. Enable it "
                "first.") % {"config": config})
        return config


class TaskOut(serializers.ModelSerializer):
    config_name = serializers.CharField(source="config.__str__", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    conditions = serializers.SerializerMethodField()
    done = serializers.SerializerMethodField()
    failed = serializers.SerializerMethodField()
    pending = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField(
        help_text=gettext_lazy("Answered records (done and failed) per cent of the total."))

    class Meta:
        model = PushTask
        fields = ["id", "mode", "config", "config_name", "filters", "conditions", "status",
                  "created_by", "total", "done", "failed", "pending", "progress", "cursor",
                  "created_at", "started_at", "finished_at"]

    def _progress(self, obj):
        found = self.context.setdefault("counts", {})
        if obj.pk not in found:
            found.update(batch.counts([obj.pk]))
        return batch.progress(obj, found[obj.pk])

    def get_conditions(self, obj) -> str:
        return obj.conditions()

    def get_done(self, obj) -> int:
        return self._progress(obj)["done"]

    def get_failed(self, obj) -> int:
        return self._progress(obj)["failed"]

    def get_pending(self, obj) -> int:
        return self._progress(obj)["pending"]

    def get_progress(self, obj) -> int:
        return self._progress(obj)["percent"]


class FailureOut(serializers.ModelSerializer):
    last_http_status = serializers.IntegerField(allow_null=True, read_only=True)

    class Meta:
        model = PushRecord
        fields = ["id", "request_id", "receiver", "identity", "data_set", "business_status",
                  "reason", "permanent", "attempts", "last_http_status", "created_at",
                  "pushed_at"]


class TaskFilter(django_filters.FilterSet):
    config = IdFilter(field_name="config_id")

    class Meta:
        model = PushTask
        fields = ["status", "mode", "config"]


_CONFLICT = OpenApiResponse(OpenApiTypes.OBJECT, description=gettext_lazy(
    "The task's status does not allow this: `detail` says why, `status` is the current one."))


def _conflict(exc):
    return Response({"detail": str(exc), "status": exc.status}, status=status.HTTP_409_CONFLICT)


@extend_schema(tags=["push"])
class PushTaskViewSet(mixins.CreateModelMixin, mixins.ListModelMixin,
                      mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                      viewsets.GenericViewSet):
    """Batch push tasks (批量推送): push the current state of todo items (realtime) or past
    push records (history) to one push config, in chunks on the batch queue. A scoped
    administrator (decentralised administration) sees only its organization's tasks."""

    serializer_class = TaskOut
    filterset_class = TaskFilter
    search_fields = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        query = PushTask.objects.select_related("config", "created_by")
        return restrict(query, self.request.user, "config__organization")

    def get_serializer_class(self):
        if self.action == "create":
            return TaskCreateIn
        if self.action == "preview":
            return TaskIn
        if self.action == "failures":
            return FailureOut
        return TaskOut

    @extend_schema(parameters=[OpenApiParameter(
        "since", OpenApiTypes.DATETIME,
        description=gettext_lazy("Tasks created at or after this time (ISO 8601 date or "
                                 "date-time); the last 7 days when left out."))])
    def list(self, request, *args, **kwargs):
        since = request.query_params.get("since")
        if since:
            try:
                moment = dt.datetime.fromisoformat(since.strip())
            except ValueError:
                raise serializers.ValidationError({"since": [_(
                    "Not a date and time: use ISO 8601, e.g. 2024-05-01 or "
                    "2024-05-01T09:30:00+08:00.")]}) from None
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            if not fits_utc(moment):
                raise serializers.ValidationError({"since": [_("Date and time out of range.")]})
        else:
            moment = timezone.now() - dt.timedelta(days=DEFAULT_DAYS)
        queryset = self.filter_queryset(self.get_queryset()).filter(created_at__gte=moment)
        page = self.paginate_queryset(queryset)
        context = {**self.get_serializer_context(), "counts": batch.counts([t.pk for t in page])}
        return self.get_paginated_response(TaskOut(page, many=True, context=context).data)

    @extend_schema(request=TaskCreateIn, responses={201: TaskOut, 400: OpenApiTypes.OBJECT})
    def create(self, request, *args, **kwargs):
        """Create a task and start it on the batch queue. An empty match is allowed: the task
        is created succeeded. Needs pushconfig.add_pushtask."""
        checked = TaskCreateIn(data=request.data, context=self.get_serializer_context())
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        task = batch.launch(PushTask(mode=data["mode"], config=data["config"],
                                     filters=data["filters"], created_by=request.user))
        return Response(TaskOut(task, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, 409: _CONFLICT})
    def destroy(self, request, *args, **kwargs):
        """Delete a task that is not running (an initialised or paused one is cancelled
        first). Its records stay in the push log. Needs pushconfig.delete_pushtask."""
        try:
            batch.delete(self.get_object())
        except batch.TransitionRefused as exc:
            return _conflict(exc)
        except PushTask.DoesNotExist:  # deleted meanwhile by someone else
            raise NotFound() from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _operate(self, operation):
        task = self.get_object()
        try:
            result = operation(task)
        except batch.TransitionRefused as exc:
            return _conflict(exc)
        except PushTask.DoesNotExist:  # deleted meanwhile by someone else
            raise NotFound() from None
        data = TaskOut(task, context=self.get_serializer_context()).data
        return Response(data if result is None else {**data, "records": result})

    @extend_schema(request=None, responses={200: TaskOut, 409: _CONFLICT})
    @action(detail=True, methods=["post"], url_path="pause",
            permission_classes=[requires("pushconfig.change_pushtask")])
    def pause(self, request, pk=None):
        """Stop an initialised or running task at its next chunk (records already written are
        still delivered). Needs pushconfig.change_pushtask."""
        return self._operate(batch.pause)

    @extend_schema(request=None, responses={200: TaskOut, 409: _CONFLICT})
    @action(detail=True, methods=["post"], url_path="resume",
            permission_classes=[requires("pushconfig.change_pushtask")])
    def resume(self, request, pk=None):
        """Continue a paused task where it stopped. Needs pushconfig.change_pushtask."""
        return self._operate(batch.resume)

    @extend_schema(request=None, responses={200: TaskOut, 409: _CONFLICT})
    @action(detail=True, methods=["post"], url_path="retry",
            permission_classes=[requires("pushconfig.change_pushtask")])
    def retry(self, request, pk=None):
        """Push a failed task's failed records again (only those); `records` says how many.
        Needs pushconfig.change_pushtask."""
        return self._operate(batch.retry)

    @extend_schema(request=None, responses={200: TaskOut, 409: _CONFLICT})
    @action(detail=True, methods=["post"], url_path="cancel",
            permission_classes=[requires("pushconfig.change_pushtask")])
    def cancel(self, request, pk=None):
        """Stop a task for good; its records not sent yet are withdrawn (`records` says how
        many). Needs pushconfig.change_pushtask."""
        return self._operate(batch.cancel)

    @extend_schema(request=TaskIn, responses={200: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description=gettext_lazy("`count`: how many items the filters match now.")),
        400: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"], url_path="preview",
            permission_classes=[requires("pushconfig.add_pushtask")])
    def preview(self, request):
        """Count what a task with these filters would push, without creating it. Needs
        pushconfig.add_pushtask."""
        checked = TaskIn(data=request.data, context=self.get_serializer_context())
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        return Response({"count": batch.count_matches(data["mode"], data["config"].pk,
                                                      data["filters"])})

    @extend_schema(responses={200: FailureOut(many=True)})
    @action(detail=True, methods=["get"], url_path="failures")
    def failures(self, request, pk=None):
        """The task's records that failed for good (permanently, or out of retries), with the
        reason and the last HTTP status; cursor-paginated. Needs pushconfig.view_pushtask."""
        rows = batch.failure_rows(self.get_object())
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(FailureOut(page, many=True).data)

    # Named to sort before `failures`: routes follow the actions' names, and the format
    # suffix route of failures/ would otherwise take "failures.xlsx" as format "xlsx".
    @extend_schema(responses={(200, batch.XLSX): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path=r"failures\.xlsx", url_name="failures-xlsx")
    def export_failures(self, request, pk=None):
        """The task's failures as an .xlsx spreadsheet, one row per failed record: request
        id, receiver, data set, business status, reason, last HTTP status, time. Needs
        pushconfig.view_pushtask."""
        task = self.get_object()
        return FileResponse(batch.export_failures(task), as_attachment=True,
                            filename=batch.export_filename(task),
                            content_type=batch.XLSX)
