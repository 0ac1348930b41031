"""Admin of batch push tasks (批量推送任务): the list with a progress bar that follows running
tasks (a small poll of a JSON page every 2 s, only while some run), the tasks of the last 7
days unless another range is picked, the actions pause / resume / retry / cancel / delete; the
add page with the mode, the push config, the conditions and a count preview; a read-only
detail; and each task's failures, as a page and as an .xlsx export.

Everything the actions do is `pushconfig.batch`, which the API calls too."""
import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from integration.ids import parse_id
from integration.models import WorkflowType
from integration.vocabulary import DataSet

from .. import batch
from ..models import PushConfig, PushTask
from ..models.scope import restrict
from ..models.task import ACTIVE, TaskMode, TaskStatus, clean_filters, describe_filters

# The progress page answers for at most this many tasks at once (a page of the list).
MAX_POLLED = 200
FAILURES_PER_PAGE = 100


class CreatedFilter(admin.SimpleListFilter):
    """The last 7 days unless another range is picked (seed 002: 默认展示7天内数据)."""

    title = gettext_lazy("created")
    parameter_name = "created"
    DEFAULT = "7"

    def lookups(self, request, model_admin):
        return [("7", _("Last 7 days")), ("30", _("Last 30 days")), ("all", _("Any time"))]

    def _chosen(self):
        return self.value() if self.value() in ("7", "30", "all") else self.DEFAULT

    def choices(self, changelist):
        chosen = self._chosen()
        for lookup, title in self.lookup_choices:
            yield {"selected": chosen == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}

    def queryset(self, request, queryset):
        chosen = self._chosen()
        if chosen == "all":
            return queryset
        since = timezone.now() - dt.timedelta(days=int(chosen))
        return queryset.filter(created_at__gte=since)


class PushTaskForm(forms.ModelForm):
    """The add form: mode, config and conditions, checked by `clean_filters` (the API's
    rules). `user` is set by the admin to offer only the configs the user may see."""

    user = None
    creator = forms.CharField(label=gettext_lazy("creator"), required=False,
                              widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
                              help_text=gettext_lazy("Login ids of request creators; "
                                                     "separated by commas, spaces or line "
                                                     "breaks. Empty for any."))
    receiver = forms.CharField(label=gettext_lazy("receiver"), required=False,
                               widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
                               help_text=gettext_lazy("Login ids of receivers, as above."))
    request_id = forms.CharField(label=gettext_lazy("request id"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
                                 help_text=gettext_lazy("Request ids, as above."))
    workflow_type = forms.ModelMultipleChoiceField(
        label=gettext_lazy("workflow type"), required=False, to_field_name="external_id",
        queryset=WorkflowType.objects.order_by("name"),
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=gettext_lazy("None chosen: any workflow type."))
    data_set = forms.MultipleChoiceField(
        label=gettext_lazy("data set"), required=False, choices=DataSet.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("A realtime push takes todo and done items (both when none is "
                               "ticked); a history push any of the four."))
    created_after = forms.DateTimeField(
        label=gettext_lazy("from"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=gettext_lazy("Realtime: the request's creation time; history: the record's "
                               "trigger time. Inclusive."))
    created_before = forms.DateTimeField(
        label=gettext_lazy("until"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=gettext_lazy("Exclusive."))

    class Meta:
        model = PushTask
        fields = ["mode", "config"]
        widgets = {"mode": forms.RadioSelect}

    FILTER_FIELDS = ("creator", "receiver", "request_id", "workflow_type", "data_set",
                     "created_after", "created_before")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cleaned_filters = {}
        if "config" not in self.fields:
            return  # the read-only detail
        configs = PushConfig.objects.filter(enabled=True).order_by("system_name")
        self.fields["config"].queryset = restrict(configs, self.user) if self.user else configs
        self.fields["config"].help_text = _("Enabled push configs only.")
        self.fields["mode"].choices = TaskMode.choices  # no blank choice among the radios
        self.fields["mode"].initial = TaskMode.REALTIME

    def clean(self):
        data = super().clean()
        mode = data.get("mode")
        if not mode:
            return data
        raw = {}
        for name in self.FILTER_FIELDS:
            value = data.get(name)
            if name == "workflow_type" and value is not None:
                value = [t.external_id for t in value]
            raw[name] = value
        try:
            self.cleaned_filters = clean_filters(mode, raw)
        except forms.ValidationError as exc:
            for name, errors in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, errors)
        return data


class TaskChangeList(ChangeList):
    """Counts and workflow-type names of the shown page, in one query each."""

    def get_results(self, request):
        super().get_results(request)
        attach_progress(self.result_list)


def attach_progress(tasks):
    found = batch.counts([task.pk for task in tasks])
    type_ids = {t for task in tasks for t in task.filters.get("workflow_type", [])}
    names = dict(WorkflowType.objects.filter(external_id__in=type_ids)
                 .values_list("external_id", "name")) if type_ids else {}
    for task in tasks:
        task.progress_data = batch.progress(task, found[task.pk])
        task.conditions_text = describe_filters(task.filters, names)


def _progress_of(task):
    if not hasattr(task, "progress_data"):
        attach_progress([task])
    return task.progress_data


@admin.register(PushTask)
class PushTaskAdmin(admin.ModelAdmin):
    form = PushTaskForm
    list_display = ["id", "status_badge", "mode", "config", "conditions", "created_by",
                    "total", "done", "failed", "progress_bar", "started_at", "finished_at"]
    list_display_links = ["id"]
    list_filter = [CreatedFilter, "status", "mode"]
    list_select_related = ["config", "created_by"]
    list_per_page = 50
    actions = ["pause_tasks", "resume_tasks", "retry_tasks", "cancel_tasks", "delete_tasks"]
    DETAIL = ["mode", "config", "conditions", "status_badge", "created_by", "total", "done",
              "failed", "progress_bar", "cursor", "source_end", "created_at", "started_at",
              "finished_at", "failures_link"]

    def get_queryset(self, request):
        return restrict(super().get_queryset(request), request.user, "config__organization")

    def get_changelist(self, request, **kwargs):
        return TaskChangeList

    def get_actions(self, request):
        found = super().get_actions(request)
        found.pop("delete_selected", None)  # ours refuses running tasks and keeps the log
        return found

    # -- add and detail --------------------------------------------------------------------------
    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return [(None, {"fields": self.DETAIL})]
        return [
            (None, {"fields": ["mode", "config"]}),
            (_("Conditions"), {
                "fields": list(PushTaskForm.FILTER_FIELDS),
                "description": _("A realtime push sends the current state of the todo items "
                                 "that match; a history push sends the config's matching push "
                                 "records again. Interception and the duplicate filter do not "
                                 "apply. Empty conditions match everything."),
            }),
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.DETAIL if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.user = request.user
        return form

    def has_change_permission(self, request, obj=None):
        # A task is not edited: the detail only shows it. The change permission is what the
        # actions need.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        obj.filters = form.cleaned_filters
        batch.launch(obj)

    def response_add(self, request, obj, post_url_continue=None):
        if obj.status == TaskStatus.SUCCEEDED:
            self.message_user(request, _("Nothing matched the conditions: task #%(id)s finished "
                                         "at once.") % {"id": obj.pk}, messages.INFO)
        else:
            self.message_user(request, ngettext(
                "Task #%(id)s pushes %(count)d item to %(config)s on the batch queue.",
                "Task #%(id)s pushes %(count)d items to %(config)s on the batch queue.",
                obj.total) % {"id": obj.pk, "count": obj.total, "config": obj.config},
                messages.INFO)
        return HttpResponseRedirect(reverse("admin:pushconfig_pushtask_changelist"))

    # -- deleting ---------------------------------------------------------------------------------
    def get_deleted_objects(self, objs, request):
        """The task only: its records stay in the push log."""
        to_delete = [str(obj) for obj in objs]
        perms_needed = set() if self.has_delete_permission(request) else {
            PushTask._meta.verbose_name}
        return to_delete, {PushTask._meta.verbose_name_plural: len(to_delete)}, perms_needed, []

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and obj.status == TaskStatus.RUNNING:
            self.message_user(request, str(batch.TransitionRefused(obj, "delete")),
                              messages.ERROR)
            return HttpResponseRedirect(reverse("admin:pushconfig_pushtask_changelist"))
        extra = {"subtitle": _("Its push records stay in the push log."),
                 **(extra_context or {})}
        return super().delete_view(request, object_id, extra)

    def delete_model(self, request, obj):
        try:
            batch.delete(obj)
        except batch.TransitionRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)

    # -- columns ----------------------------------------------------------------------------------
    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="batch-status" data-task="{}">{}</span>', obj.pk,
                           obj.get_status_display())

    @admin.display(description=gettext_lazy("conditions"))
    def conditions(self, obj):
        text = getattr(obj, "conditions_text", None)
        return text if text is not None else obj.conditions()

    @admin.display(description=gettext_lazy("done"))
    def done(self, obj):
        return format_html('<span class="batch-done" data-task="{}">{}</span>', obj.pk,
                           _progress_of(obj)["done"])

    @admin.display(description=gettext_lazy("failed"))
    def failed(self, obj):
        count = _progress_of(obj)["failed"]
        if not count:
            return format_html('<span class="batch-failed" data-task="{}">0</span>', obj.pk)
        url = reverse("admin:pushconfig_pushtask_failures", args=[obj.pk])
        return format_html('<a class="batch-failed" data-task="{}" href="{}">{}</a>', obj.pk,
                           url, count)

    @admin.display(description=gettext_lazy("progress"))
    def progress_bar(self, obj):
        data = _progress_of(obj)
        return format_html(
            '<div class="batch-progress" data-task="{}" data-active="{}" data-status="{}" '
            'title="{}"><div class="batch-progress-bar" style="width: {}%"></div>'
            '<span class="batch-progress-label">{}%</span></div>',
            obj.pk, "1" if obj.status in ACTIVE else "0", obj.status,
            _("%(done)s done, %(failed)s failed, %(pending)s waiting") % data,
            data["percent"], data["percent"])

    @admin.display(description=gettext_lazy("failures"))
    def failures_link(self, obj):
        count = _progress_of(obj)["failed"]
        page = reverse("admin:pushconfig_pushtask_failures", args=[obj.pk])
        export = reverse("admin:pushconfig_pushtask_failures_xlsx", args=[obj.pk])
        return format_html('<a href="{}">{}</a> · <a href="{}">{}</a>', page,
                           ngettext("%(count)d failed record", "%(count)d failed records",
                                    count) % {"count": count},
                           export, _("export as .xlsx"))

    # -- actions ----------------------------------------------------------------------------------
    def _apply(self, request, queryset, operation, message):
        """Run `operation` on each selected task; `message(n)` reports the n it was done to,
        and each refusal is reported with the status that caused it."""
        done, refused = 0, []
        for task in queryset.order_by("pk"):
            try:
                operation(task)
            except batch.TransitionRefused as exc:
                refused.append(str(exc))
            except PushTask.DoesNotExist:  # deleted meanwhile: nothing left to do
                continue
            else:
                done += 1
        if done:
            self.message_user(request, message(done), messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.ERROR)

    @admin.action(description=gettext_lazy("Pause selected tasks"), permissions=["change"])
    def pause_tasks(self, request, queryset):
        self._apply(request, queryset, batch.pause, lambda n: ngettext(
            "%(count)d task was paused; it stops after its current chunk.",
            "%(count)d tasks were paused; they stop after their current chunk.", n)
            % {"count": n})

    @admin.action(description=gettext_lazy("Resume selected tasks"), permissions=["change"])
    def resume_tasks(self, request, queryset):
        self._apply(request, queryset, batch.resume, lambda n: ngettext(
            "%(count)d task was resumed where it stopped.",
            "%(count)d tasks were resumed where they stopped.", n) % {"count": n})

    @admin.action(description=gettext_lazy("Retry the failed records of selected tasks"),
                  permissions=["change"])
    def retry_tasks(self, request, queryset):
        self._apply(request, queryset, batch.retry, lambda n: ngettext(
            "The failed records of %(count)d task are pushed again.",
            "The failed records of %(count)d tasks are pushed again.", n) % {"count": n})

    @admin.action(description=gettext_lazy("Cancel selected tasks"), permissions=["change"])
    def cancel_tasks(self, request, queryset):
        self._apply(request, queryset, batch.cancel, lambda n: ngettext(
            "%(count)d task was cancelled; its records not sent yet were withdrawn.",
            "%(count)d tasks were cancelled; their records not sent yet were withdrawn.", n)
            % {"count": n})

    @admin.action(description=gettext_lazy("Delete selected tasks (their records stay in the "
                                           "push log)"), permissions=["delete"])
    def delete_tasks(self, request, queryset):
        self._apply(request, queryset, batch.delete, lambda n: ngettext(
            "%(count)d task was deleted.", "%(count)d tasks were deleted.", n) % {"count": n})

    # -- extra pages ------------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("progress/", wrap(self.progress_view), name="pushconfig_pushtask_progress"),
            path("preview/", wrap(self.preview_view), name="pushconfig_pushtask_preview"),
            path("<path:object_id>/failures/", wrap(self.failures_view),
                 name="pushconfig_pushtask_failures"),
            path("<path:object_id>/failures.xlsx", wrap(self.export_view),
                 name="pushconfig_pushtask_failures_xlsx"),
            *super().get_urls(),
        ]

    def progress_view(self, request):
        """JSON for the list's poll: ?ids=1,2,3 → the status and counts of each."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        ids = [pk for pk in map(parse_id, request.GET.get("ids", "").split(",")) if pk is not None]
        tasks = list(self.get_queryset(request).filter(pk__in=ids[:MAX_POLLED]))
        found = batch.counts([task.pk for task in tasks])
        rows = []
        for task in tasks:
            row = batch.progress(task, found[task.pk])
            row["active"] = task.status in ACTIVE
            row["title"] = _("%(done)s done, %(failed)s failed, %(pending)s waiting") % row
            rows.append(row)
        return JsonResponse({"tasks": rows})

    def preview_view(self, request):
        """POST the add form: how many items its conditions match now (JSON)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = self.get_form(request)(request.POST)
        if not form.is_valid():
            return JsonResponse({"errors": {name: [str(e) for e in errors]
                                            for name, errors in form.errors.items()}},
                                status=400)
        data = form.cleaned_data
        count = batch.count_matches(data["mode"], data["config"].pk, form.cleaned_filters)
        return JsonResponse({"count": count, "message": ngettext(
            "%(count)d item matches these conditions.",
            "%(count)d items match these conditions.", count) % {"count": count}})

    def _task(self, request, object_id):
        task = self.get_object(request, unquote(object_id))
        if task is None:
            raise Http404(_("No such batch push task."))
        if not self.has_view_or_change_permission(request, task):
            raise PermissionDenied
        return task

    def failures_view(self, request, object_id):
        task = self._task(request, object_id)
        paginator = Paginator(batch.failure_rows(task), FAILURES_PER_PAGE)
        page = paginator.get_page(request.GET.get("p"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "original": task, "page": page,
            "title": _("Failures of batch push task #%(id)s") % {"id": task.pk},
            "change_url": reverse("admin:pushconfig_pushtask_change", args=[task.pk]),
            "export_url": reverse("admin:pushconfig_pushtask_failures_xlsx", args=[task.pk]),
            "headers": batch.export_headers(),
        }
        return TemplateResponse(request, "admin/pushconfig/pushtask/failures.html", context)

    def export_view(self, request, object_id):
        task = self._task(request, object_id)
        return FileResponse(batch.export_failures(task), as_attachment=True,
                            filename=batch.export_filename(task),
                            content_type=batch.XLSX)

    def changelist_view(self, request, extra_context=None):
        extra = {"progress_url": reverse("admin:pushconfig_pushtask_progress"),
                 **(extra_context or {})}
        return super().changelist_view(request, extra)

    def add_view(self, request, form_url="", extra_context=None):
        extra = {"preview_url": reverse("admin:pushconfig_pushtask_preview"),
                 **(extra_context or {})}
        return super().add_view(request, form_url, extra)

