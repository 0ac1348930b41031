"""Admin of action flows (动作流): the trigger as fieldsets per trigger kind, the steps as an
ordered inline checked together on save (nothing is saved while a step refers to a missing
or later one), a version published after the steps are saved, the published versions, and the
"Run now" and "Create from template" pages."""
import json

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from integration.admin.base import pretty_json as base_pretty_json

from .. import engine, schedules
from ..definition import publish
from ..flow_templates import REGISTRY as TEMPLATES
from ..flow_templates import TemplateError, create_from_template
from ..forms import ActionFlowForm, RunForm, StepForm, StepFormSet, TemplateForm, masked_secrets
from ..models import ActionFlow, FlowRun, FlowStep
from ..steps import REGISTRY as STEP_KINDS

# The versions listed on a flow's page, newest first (older ones stay in the API).
VERSIONS_SHOWN = 20
# Next run times shown under a schedule trigger's cron.
PREVIEW_RUNS = 5
RUN_PERMISSION = "actionflow.add_flowrun"
EXPRESSION_HELP = gettext_lazy(
    "Each step has a stable key and JSON settings. Any text in the settings may hold "
    "placeholders: {{ input.request_id }} (the data the run started with), "
    "{{ record.title }}, {{ steps.<key>.<output> }} (an earlier step's output), "
    "{{ secrets.<name> }}, {{ now }}, and functions such as urlencode(), date_add() and "
    "format_date(). A reference to a missing or later step is refused when the flow is saved. "
    "Steps named by a branch arm run only when that arm is taken; every other step runs in "
    "order.")


def pretty_json(value):
    return base_pretty_json(value, "flow-json")


def step_kinds():
    """Each registered step kind with its description and a settings example, for the help
    block under the steps."""
    return [{"kind": kind, "label": str(cls.label), "description": str(cls.description),
             "example": json.dumps(cls.example, ensure_ascii=False, indent=2)}
            for kind, cls in STEP_KINDS.items()]


def trigger_summary(flow):
    Trigger = ActionFlow.Trigger
    if flow.trigger == Trigger.WORKFLOW:
        return " · ".join(str(part) for part in (
            flow.workflow if flow.workflow_id else "—",
            flow.node_name or _("every node"),
            flow.get_moment_display() or "—"))
    if flow.trigger == Trigger.DATE_FIELD:
        return _("%(records)s: %(field)s + %(amount)d %(unit)s") % {
            "records": flow.get_record_kind_display() or "—", "field": flow.date_field or "—",
            "amount": flow.delay_amount, "unit": flow.get_delay_unit_display()}
    if flow.trigger == Trigger.SCHEDULE:
        return flow.cron or "—"
    return "—"


class FlowStepInline(admin.StackedInline):
    model = FlowStep
    form = StepForm
    formset = StepFormSet
    extra = 1
    ordering = ["order", "id"]
    classes = ["flow-steps"]
    fieldsets = [(None, {"fields": [("order", "key", "name", "kind"), "config",
                                    ("tries", "retry_wait", "on_failure")]})]
    verbose_name = gettext_lazy("step")
    verbose_name_plural = gettext_lazy("steps (run by order; settings are JSON, see the step "
                                       "kinds below)")


@admin.register(ActionFlow)
class ActionFlowAdmin(admin.ModelAdmin):
    form = ActionFlowForm
    list_display = ["name", "trigger", "trigger_display", "enabled", "version", "last_run"]
    list_filter = ["trigger", "enabled"]
    search_fields = ["name"]
    list_select_related = ["workflow"]
    autocomplete_fields = ["workflow", "alert_persons", "alert_roles"]
    readonly_fields = ["version", "secrets_stored", "cron_preview", "versions_table"]
    inlines = [FlowStepInline]
    actions = ["enable_flows", "disable_flows"]
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled", "trigger", "version"]}),
        (gettext_lazy("Workflow trigger"), {
            "fields": ["workflow", "node_name", "moment", "before_timeout", "block_on_timeout"],
            "classes": ["flow-trigger", "flow-trigger-workflow", "flow-trigger-date_field"],
            "description": gettext_lazy(
                "The flow runs when a request of the workflow reaches (before) or leaves "
                "(after) the node. “Before” flows run while the OA waits, within the time "
                "limit, and a failure stops the node with the output step's message. A "
                "date-field trigger may name a workflow too: only its records are watched."),
        }),
        (gettext_lazy("Date-field trigger"), {
            "fields": ["record_kind", "date_field", "delay_amount", "delay_unit",
                       "record_filter"],
            "classes": ["flow-trigger", "flow-trigger-date_field"],
            "description": gettext_lazy(
                "The flow runs once for each record whose date plus the delay has passed and "
                "which still matches the filter (e.g. only pending todo items), never twice "
                "for one record."),
        }),
        (gettext_lazy("Schedule trigger"), {
            "fields": ["cron", "cron_preview"],
            "classes": ["flow-trigger", "flow-trigger-schedule"],
        }),
        # Not "Running" / "Failure alerts": those texts already mean other things elsewhere
        # (a run's status, a push config's breaker alerts) in the catalogue.
        (gettext_lazy("How the flow runs"), {
            "fields": ["operator", "secrets", "secrets_stored"],
        }),
        (gettext_lazy("Alerts when a run fails"), {
            "fields": ["alert_channels", "alert_persons", "alert_roles"],
        }),
        (gettext_lazy("Published versions"), {
            "fields": ["versions_table"],
            "description": gettext_lazy(
                "Saving publishes a new version when what a run would do changed; each run "
                "keeps the version it ran."),
        }),
    ]

    def get_deleted_objects(self, objs, request):
        """Count the runs a deletion takes instead of listing (and loading) every one."""
        flows = list(objs)
        to_delete = [str(flow) for flow in flows]
        model_count = {
            ActionFlow._meta.verbose_name_plural: len(flows),
            FlowRun._meta.verbose_name_plural: FlowRun.objects.filter(flow__in=flows).count(),
        }
        perms_needed = set() if self.has_delete_permission(request) else {
            ActionFlow._meta.verbose_name}
        # Flows ESB push configs run are kept: the admin lists them as protected.
        protected = [refusal for refusal in (flow.esb_refusal() for flow in flows) if refusal]
        return to_delete, model_count, perms_needed, protected

    def get_queryset(self, request):
        # The newest run's status and id per flow: one subquery each, served by the
        # (flow, -id) index, instead of a query per row.
        newest = FlowRun.objects.filter(flow=OuterRef("pk")).order_by("-id")
        return super().get_queryset(request).annotate(
            last_run_status=Subquery(newest.values("status")[:1]),
            last_run_id=Subquery(newest.values("id")[:1]))

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:  # nothing published yet
            fieldsets = [(title, {**options, "fields": [f for f in options["fields"]
                                                       if f != "version"]})
                         for title, options in fieldsets
                         if "versions_table" not in options["fields"]]
        return fieldsets

    # -- columns and read-only fields ----------------------------------------------------------
    @admin.display(description=gettext_lazy("trigger settings"))
    def trigger_display(self, obj):
        return trigger_summary(obj)

    @admin.display(description=gettext_lazy("last run"), ordering="last_run_id")
    def last_run(self, obj):
        if not getattr(obj, "last_run_id", None):
            return "—"
        url = reverse("admin:actionflow_flowrun_change", args=[obj.last_run_id])
        label = FlowRun.Status(obj.last_run_status).label if obj.last_run_status else "?"
        return format_html('<a href="{}" class="flow-run-status status-{}">#{} {}</a>', url,
                           obj.last_run_status, obj.last_run_id, label)

    @admin.display(description=gettext_lazy("stored secrets"))
    def secrets_stored(self, obj):
        stored = masked_secrets(obj.secrets) if obj and obj.pk else {}
        if not stored:
            return "—"
        return format_html_join(", ", "<code>{}</code> {}", stored.items())

    @admin.display(description=gettext_lazy("next runs"))
    def cron_preview(self, obj):
        from pushconfig.cron import CronError, parse

        expression = obj.cron if obj is not None else ""
        if not expression:
            return _("Save a cron expression to see its next run times here.")
        try:
            runs = parse(expression).next_runs(PREVIEW_RUNS)
        except CronError as exc:
            return str(exc)
        return _("%(runs)s (time zone %(zone)s)") % {
            "runs": ", ".join(run.strftime("%Y-%m-%d %H:%M") for run in runs),
            "zone": settings.TIME_ZONE}

    @admin.display(description=gettext_lazy("versions"))
    def versions_table(self, obj):
        if obj is None or not obj.pk:
            return "—"
        versions = list(obj.versions.order_by("-number")[:VERSIONS_SHOWN])
        if not versions:
            return _("Not published yet.")
        rows = format_html_join("", (
            '<tr class="flow-version" data-version="{}"><td>v{}{}</td><td>{}</td><td>{}</td>'
            '<td>{}</td><td><details><summary>{}</summary>{}</details></td></tr>'), (
            (v.number, v.number, _(" (current)") if v.number == obj.version else "",
             timezone.localtime(v.created_at).strftime("%Y-%m-%d %H:%M:%S"),
             v.created_by or "—", len(v.definition.get("steps") or []), _("definition"),
             pretty_json(v.definition)) for v in versions))
        head = format_html("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
                           _("version"), _("published at"), _("published by"), _("steps"))
        return format_html('<table class="flow-versions">{}{}</table>', head, rows)

    # -- saving --------------------------------------------------------------------------------
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        flow = form.instance
        before = flow.version
        version = publish(flow, request.user.get_username())
        if version.number != before:
            self.message_user(request, _("Version %(n)d of “%(flow)s” was published.")
                              % {"n": version.number, "flow": flow}, messages.SUCCESS)
        else:
            self.message_user(request, _("What runs did not change: “%(flow)s” stays at "
                                         "version %(n)d.") % {"n": version.number, "flow": flow},
                              messages.INFO)

    # -- bulk actions --------------------------------------------------------------------------
    def _set_enabled(self, request, queryset, enabled):
        count = queryset.update(enabled=enabled, updated_at=timezone.now())
        for flow in queryset.order_by("pk"):
            schedules.sync(flow)  # update() sends no post_save
        return count

    @admin.action(description=gettext_lazy("Enable selected action flows"),
                  permissions=["change"])
    def enable_flows(self, request, queryset):
        count = self._set_enabled(request, queryset, True)
        self.message_user(request, ngettext(
            "%(count)d action flow was enabled.", "%(count)d action flows were enabled.",
            count) % {"count": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Disable selected action flows"),
                  permissions=["change"])
    def disable_flows(self, request, queryset):
        count = self._set_enabled(request, queryset, False)
        self.message_user(request, ngettext(
            "%(count)d action flow was disabled.", "%(count)d action flows were disabled.",
            count) % {"count": count}, messages.SUCCESS)

    # -- pages ---------------------------------------------------------------------------------
    def has_run_permission(self, request, obj=None):
        return request.user.has_perm(RUN_PERMISSION) and self.has_view_permission(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="",
                           obj=None):
        context.update({"step_kinds": step_kinds(), "expression_help": EXPRESSION_HELP,
                        "has_run_permission": bool(obj) and self.has_run_permission(request, obj)})
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changelist_view(self, request, extra_context=None):
        extra = {"has_template_permission": self.has_add_permission(request),
                 **(extra_context or {})}
        return super().changelist_view(request, extra)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("from-template/", wrap(self.template_view),
                 name="actionflow_actionflow_template"),
            path("<path:object_id>/run/", wrap(self.run_view), name="actionflow_actionflow_run"),
            *super().get_urls(),
        ]

    def _page(self, request, title, **context):
        return {**self.admin_site.each_context(request), "opts": self.model._meta,
                "title": title, **context}

    def run_view(self, request, object_id):
        """“Run now”: a run with the given input, on a worker (or here, waiting for it);
        a disabled flow runs too, so a flow can be tried before it is enabled."""
        flow = self.get_object(request, unquote(object_id))
        if flow is None:
            raise Http404(_("No such action flow."))
        if not self.has_run_permission(request, flow):
            raise PermissionDenied
        form = RunForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            user = request.user.get_username()
            data = form.cleaned_data["input"]
            try:
                if form.cleaned_data["wait"]:
                    run = engine.run_now(flow, FlowRun.Trigger.MANUAL, data,
                                         timeout=settings.FLOW_CALL_TIMEOUT, requested_by=user)
                else:
                    with transaction.atomic():
                        run = engine.start(flow, FlowRun.Trigger.MANUAL, data,
                                           requested_by=user)
            except engine.FlowNotReady as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, _("Run #%(run)d of “%(flow)s” (version %(n)d) is "
                                             "%(status)s.") % {
                    "run": run.pk, "flow": flow, "n": run.version.number,
                    "status": run.get_status_display().lower()}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:actionflow_flowrun_change",
                                                    args=[run.pk]))
        context = self._page(request, _("Run “%(flow)s” now") % {"flow": flow}, form=form,
                             original=flow, timeout=settings.FLOW_CALL_TIMEOUT)
        return TemplateResponse(request, "admin/actionflow/actionflow/run_form.html", context)

    def template_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = TemplateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                flow = create_from_template(form.cleaned_data["template"],
                                            name=form.cleaned_data["name"],
                                            user=request.user.get_username(),
                                            **form.trigger_overrides())
            except TemplateError as exc:
                form.add_error(None, str(exc))
            else:
                self.log_addition(request, flow, [{"added": {}}])
                self.message_user(request, _("The action flow “%(flow)s” was created from a "
                                             "template (version %(n)d). It is disabled: review "
                                             "it, then enable it.")
                                  % {"flow": flow, "n": flow.version}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:actionflow_actionflow_change",
                                                    args=[flow.pk]))
        templates = [{"key": key, "label": str(t.label), "description": str(t.description),
                      "steps": [s.get("key") for s in t.steps]}
                     for key, t in TEMPLATES.items()]
        context = self._page(request, _("Create an action flow from a template"), form=form,
                             templates=templates, media=self.media + form.media)
        return TemplateResponse(request, "admin/actionflow/actionflow/template_form.html",
                                context)

