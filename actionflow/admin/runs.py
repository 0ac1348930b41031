"""Admin of flow runs: a list that stays fast however many runs are kept (no COUNT, indexed
filters, exact search by id or event id), a read-only page with the input and every step's
log, and re-running a run from the start with the version it ran or the current one."""
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from integration.admin.base import BigTableAdmin, IdListFilter, parse_id

from .. import engine
from ..models import ActionFlow, FlowRun, StepRun
from .flows import RUN_PERMISSION, pretty_json

# One bulk re-run starts at most this many runs.
MAX_RERUNS = 100



def duration(ms):
    if ms is None:
        return "—"
    if ms < 1000:
        return _("%(n)d ms") % {"n": ms}
    return _("%(n).1f s") % {"n": ms / 1000}


class FlowFilter(IdListFilter):
    """The flows themselves (a small table), not a DISTINCT over every run."""

    title = gettext_lazy("action flow")
    parameter_name = "flow"
    field = "flow_id"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in
                ActionFlow.objects.order_by("name").values_list("pk", "name")]


class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    fields = ["seq", "key", "name", "kind", "status", "tries", "input_pretty", "output_pretty",
              "error", "step_duration"]
    readonly_fields = fields
    ordering = ["seq"]

    @admin.display(description=gettext_lazy("input"))
    def input_pretty(self, obj):
        return pretty_json(obj.input)

    @admin.display(description=gettext_lazy("output"))
    def output_pretty(self, obj):
        return pretty_json(obj.output)

    @admin.display(description=gettext_lazy("duration"))
    def step_duration(self, obj):
        return duration(obj.duration_ms)

    # Step logs are part of the run: whoever may see the run sees them, nobody edits them.
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("actionflow.view_flowrun") or \
            request.user.has_perm("actionflow.change_flowrun")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(FlowRun)
class FlowRunAdmin(BigTableAdmin):
    list_display = ["id", "flow", "version_number", "trigger", "status", "started_at",
                    "run_duration", "short_message"]
    list_display_links = ["id", "flow"]
    list_select_related = ["flow", "version"]
    list_filter = [FlowFilter, "status", "trigger", "created_at"]
    search_fields = ["=id", "=event_id"]  # exact; get_search_results says how
    search_help_text = gettext_lazy("Exact run id or event id.")
    actions = ["rerun_same", "rerun_current"]
    inlines = [StepRunInline]
    fields = ["flow", "version_number", "trigger", "status", "message", "failed_step",
              "input_pretty", "event_id", "push_record_id", "requested_by", "rerun_link",
              "parent_link", "inline", "attempts", "created_at", "started_at", "finished_at",
              "run_duration"]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        # Exact matches on indexed columns: Django's "=" compares UPPER() of both sides, which
        # no B-tree index serves.
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(event_id=term)
        if (pk := parse_id(term.lstrip("#"))) is not None:
            match |= Q(pk=pk)
        return queryset.filter(match), False

    # Runs are records: shown, never edited; re-running is its own permission.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_rerun_permission(self, request, obj=None):
        return request.user.has_perm(RUN_PERMISSION) and self.has_view_permission(request, obj)

    # -- columns -------------------------------------------------------------------------------
    @admin.display(description=gettext_lazy("version"), ordering="version__number")
    def version_number(self, obj):
        return f"v{obj.version.number}"

    @admin.display(description=gettext_lazy("duration"), ordering="duration_ms")
    def run_duration(self, obj):
        return duration(obj.duration_ms)

    @admin.display(description=gettext_lazy("message"))
    def short_message(self, obj):
        return obj.message if len(obj.message) <= 80 else obj.message[:80] + "…"

    @admin.display(description=gettext_lazy("input"))
    def input_pretty(self, obj):
        return pretty_json(obj.input)

    @admin.display(description=gettext_lazy("re-run of"))
    def rerun_link(self, obj):
        return self._run_link(obj.rerun_of_id)

    @admin.display(description=gettext_lazy("called by run"))
    def parent_link(self, obj):
        return self._run_link(obj.parent_run_id)

    @staticmethod
    def _run_link(run_id):
        if not run_id:
            return "—"
        return format_html('<a href="{}">#{}</a>',
                           reverse("admin:actionflow_flowrun_change", args=[run_id]), run_id)

    # -- re-running ----------------------------------------------------------------------------
    def _rerun(self, request, runs, current):
        started = []
        for run in runs:
            try:
                started.append(engine.rerun(run, current=current,
                                            user=request.user.get_username()))
            except engine.FlowNotReady as exc:
                self.message_user(request, str(exc), messages.ERROR)
        return started

    def _rerun_selected(self, request, queryset, current):
        runs = list(queryset.select_related("flow", "version").order_by("id")[:MAX_RERUNS + 1])
        if len(runs) > MAX_RERUNS:
            self.message_user(request, _("Select at most %(max)d runs to re-run at once.")
                              % {"max": MAX_RERUNS}, messages.ERROR)
            return
        started = self._rerun(request, runs, current)
        self.message_user(request, ngettext(
            "%(count)d run was started again: %(runs)s.",
            "%(count)d runs were started again: %(runs)s.", len(started)) % {
            "count": len(started), "runs": ", ".join(f"#{r.pk}" for r in started) or "—"},
            messages.SUCCESS)

    @admin.action(description=gettext_lazy("Re-run with the version it ran"),
                  permissions=["rerun"])
    def rerun_same(self, request, queryset):
        self._rerun_selected(request, queryset, current=False)

    @admin.action(description=gettext_lazy("Re-run with the current version"),
                  permissions=["rerun"])
    def rerun_current(self, request, queryset):
        self._rerun_selected(request, queryset, current=True)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("<path:object_id>/rerun/", wrap(self.rerun_view),
                     name="actionflow_flowrun_rerun"), *super().get_urls()]

    def rerun_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = self.get_object(request, unquote(object_id))
        if run is None:
            raise Http404(_("No such flow run."))
        if not self.has_rerun_permission(request, run):
            raise PermissionDenied
        current = request.POST.get("version") == "current"
        started = self._rerun(request, [run], current)
        if not started:
            return HttpResponseRedirect(reverse("admin:actionflow_flowrun_change", args=[run.pk]))
        new = started[0]
        self.message_user(request, _("Run #%(run)d started again as #%(new)d with version "
                                     "%(n)d.") % {"run": run.pk, "new": new.pk,
                                                  "n": new.version.number}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:actionflow_flowrun_change", args=[new.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, unquote(object_id))
        extra = {"has_rerun_permission": run is not None and self.has_rerun_permission(
            request, run)}
        return super().change_view(request, object_id, form_url, {**extra,
                                                                   **(extra_context or {})})
