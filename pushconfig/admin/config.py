"""Admin of push configs (统一待办推送设置): the seed's sections as fieldsets, the push type's
parameters as real form fields, creation from blank or from a suite, bulk enable/disable,
and a connection test per row or for a selection. With decentralised administration on, an
administrator scoped to an organization sees and edits only its configs."""
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from integration.http import without_credentials
from integration.models import Subcompany
from integration.vocabulary import BUSINESS_STATUSES_BY_DATA_SET

from .. import cleanup as push_log_cleanup
from .. import schedules
from ..api.operations import check_connection, describe
from ..cron import CronError, parse
from ..models import AdminScope, PersonRule, PushConfig, PushRecord
from ..models.scope import restrict, scoped_organization
from ..transports import CUSTOM, REGISTRY, UnknownTransport, get_transport_class, push_type_choices
from .forms import PARAM, STATUSES, PushConfigForm, build_config_form, build_suite_form

# A connection test waits for the target; one action tests at most this many configs.
MAX_TESTS = 20
# Next run times of the compensation cron shown next to it.
PREVIEW_RUNS = 5


class PersonRuleInline(admin.TabularInline):
    model = PersonRule
    extra = 1
    verbose_name = gettext_lazy("person interception entry")
    verbose_name_plural = gettext_lazy("person interception: entries of the allowlist or denylist")


class PushTypeFilter(admin.SimpleListFilter):
    title = gettext_lazy("push type")
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return push_type_choices()

    def queryset(self, request, queryset):
        return queryset.filter(push_type=self.value()) if self.value() else queryset


def push_type_label(config):
    try:
        cls = get_transport_class(config.push_type, config.implementation)
    except UnknownTransport:
        return _("%(type)s (not registered)") % {"type": config.implementation or config.push_type}
    if cls.custom:
        return _("Custom: %(label)s") % {"label": cls.label}
    return str(cls.label)


@admin.register(PushConfig)
class PushConfigAdmin(admin.ModelAdmin):
    form = PushConfigForm
    list_display = ["system_name", "identifier", "push_type_display", "enabled", "address",
                    "test_button"]
    list_display_links = ["system_name", "identifier"]
    list_filter = ["enabled", PushTypeFilter]
    search_fields = ["system_name", "=identifier", "server_url"]
    inlines = [PersonRuleInline]
    autocomplete_fields = ["scope_workflows", "intercepted_workflow_types", "alert_persons",
                           "alert_roles"]
    actions = ["enable_configs", "disable_configs", "test_connections", "dry_run_cleanup"]
    readonly_fields = ["compensation_preview"]

    # -- deleting: the push log goes in chunks, and is counted, not listed --------------------
    def get_deleted_objects(self, objs, request):
        """Summarise the push log instead of listing (and loading) every record of it."""
        to_delete = [str(obj) for obj in objs]
        model_count = {PushConfig._meta.verbose_name_plural: len(to_delete),
                       PushRecord._meta.verbose_name_plural:
                           PushRecord.objects.filter(config__in=objs).count()}
        perms_needed = set() if self.has_delete_permission(request) else {
            PushConfig._meta.verbose_name}
        return to_delete, model_count, perms_needed, []

    def delete_queryset(self, request, queryset):
        for config in queryset:
            config.delete()

    # -- the push type this request shows ------------------------------------------------------
    def chosen_type(self, request, obj=None):
        """(push_type, implementation, class or None): what was posted, else what the page was
        asked for (?push_type=…), else what the config has."""
        source = request.POST if request.method == "POST" else request.GET
        push_type = source.get("push_type") or (obj.push_type if obj else "")
        implementation = ""
        if push_type == CUSTOM:
            implementation = source.get("implementation")
            if implementation is None and obj is not None and obj.push_type == CUSTOM:
                implementation = obj.implementation
            implementation = implementation or ""
        try:
            cls = get_transport_class(push_type, implementation) if push_type else None
        except UnknownTransport:
            cls = None
        return push_type, implementation, cls

    def get_fieldsets(self, request, obj=None):
        _push_type, _implementation, cls = self.chosen_type(request, obj)
        basic = ["enabled", "identifier", "system_name"]
        if settings.DECENTRALISED_ADMIN:
            basic.append("organization")
        basic += ["server_url", "person_mapping", "push_type", "implementation"]
        names = list(cls.Params().fields) if cls else []
        if cls is None:
            params_note = _("Choose the push type first: its parameters are shown here.")
        else:
            params_note = _("The fixed parameters of the push type %(type)s.") % {"type": cls.label}
        statuses = [STATUSES + data_set for data_set in BUSINESS_STATUSES_BY_DATA_SET]
        return [
            (_("Basic information"), {"fields": basic}),
            (_("Parameters"), {"fields": ["params_for", *(PARAM + n for n in names)],
                               "description": params_note}),
            (_("Special data handling"), {
                "fields": ["filter_duplicates", "backfill_missing_todo"]}),
            (_("Person interception"), {
                "fields": ["person_scope"],
                "description": _("With an allowlist, only the entries listed below are pushed; "
                                 "with a denylist, everyone but them."),
            }),
            (_("Workflow interception"), {"fields": ["workflow_scope", "scope_workflows"]}),
            (_("Business interception"), {
                "fields": ["business_interception", *statuses],
                "description": _("With “Custom”, the business statuses ticked below are not "
                                 "pushed. Business interception is judged before the "
                                 "duplicate filter."),
            }),
            (_("Workflow type interception"), {"fields": ["intercepted_workflow_types"]}),
            (_("Failure alerts"), {
                "fields": ["fuse_threshold", "fuse_cooldown", "alert_channels", "alert_persons",
                           "alert_roles", "alert_subject", "alert_content"],
                "description": _("After “failures before fusing” transient failures in a row "
                                 "the circuit breaker opens: pushes wait, and are delivered in "
                                 "order once the target recovers. The persons (their main "
                                 "identity) and the members of the roles get one alert per "
                                 "channel when it opens and one when it recovers."),
            }),
            (_("Compensation"), {
                "fields": ["compensation_enabled", "compensation_cron", "compensation_preview",
                           "compensation_retries", "compensation_wait"],
                "description": _("On this schedule, records that failed for a passing reason "
                                 "(their automatic retries used up) and records still waiting "
                                 "for an answer are pushed again, oldest first, each at most "
                                 "the re-push count times and only after the wait since its "
                                 "last try. Permanent failures are left for a re-push by hand. "
                                 "Nothing runs while the config is disabled or its circuit "
                                 "breaker is open."),
            }),
            (_("Cleanup"), {
                "fields": ["cleanup_enabled", "cleanup_hour", "cleanup_keep_days"],
                "description": _("Every day at this hour, records older than the keep days "
                                 "whose outcome is success, ignored or pending are deleted; "
                                 "failed and intercepted ones stay. The “Dry run cleanup” "
                                 "action shows what would go."),
            }),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        push_type, implementation, cls = self.chosen_type(request, obj)
        kwargs["form"] = build_config_form(self.form, push_type, implementation, cls, obj)
        return super().get_form(request, obj, change, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        organization = scoped_organization(request.user)
        if organization is not None:
            initial["organization"] = organization.pk
        return initial

    # -- decentralised administration ----------------------------------------------------------
    def get_queryset(self, request):
        return restrict(super().get_queryset(request), request.user)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:  # absent, or another organization's: the same answer for both
            raise Http404(_("No such push config."))
        return obj

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")  # the seed: E10 addresses use https
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "organization":
            organization = scoped_organization(request.user)
            if organization is not None:
                kwargs["queryset"] = Subcompany.objects.filter(pk=organization.pk)
                kwargs["required"] = True
                kwargs["empty_label"] = None
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        organization = scoped_organization(request.user)
        if organization is not None:
            obj.organization = organization
        super().save_model(request, obj, form, change)

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if settings.DECENTRALISED_ADMIN:
            columns.insert(2, "organization")
        return columns

    def get_list_select_related(self, request):
        return ["organization"] if settings.DECENTRALISED_ADMIN else False

    # -- columns -------------------------------------------------------------------------------
    @admin.display(description=gettext_lazy("push type"), ordering="push_type")
    def push_type_display(self, obj):
        return push_type_label(obj)

    @admin.display(description=gettext_lazy("server URL"), ordering="server_url")
    def address(self, obj):
        return without_credentials(obj.server_url)

    @admin.display(description=gettext_lazy("connection"))
    def test_button(self, obj):
        # A submit button of the changelist form (which carries the CSRF token) posting to
        # the row's own URL: no nested form, no state-changing GET.
        url = reverse("admin:pushconfig_pushconfig_test", args=[obj.pk])
        return format_html('<button type="submit" class="button" formaction="{}" '
                           'formmethod="post" name="_from" value="changelist">{}</button>',
                           url, _("Test connection"))

    # -- actions -------------------------------------------------------------------------------
    @admin.action(description=gettext_lazy("Enable selected push configs"), permissions=["change"])
    def enable_configs(self, request, queryset):
        count = queryset.update(enabled=True, updated_at=timezone.now())
        schedules.sync_many(queryset)  # update() sends no post_save
        self.message_user(request, ngettext(
            "%(count)d push config was enabled.", "%(count)d push configs were enabled.",
            count) % {"count": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Disable selected push configs"), permissions=["change"])
    def disable_configs(self, request, queryset):
        count = queryset.update(enabled=False, updated_at=timezone.now())
        schedules.sync_many(queryset)  # update() sends no post_save
        self.message_user(request, ngettext(
            "%(count)d push config was disabled.", "%(count)d push configs were disabled.",
            count) % {"count": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Test connection of selected push configs"),
                  permissions=["change"])
    def test_connections(self, request, queryset):
        configs = list(queryset.order_by("pk")[:MAX_TESTS + 1])
        if len(configs) > MAX_TESTS:
            self.message_user(request, _("Select at most %(max)d push configs to test at once.")
                              % {"max": MAX_TESTS}, messages.ERROR)
            return
        for config in configs:
            result = check_connection(config)
            self.message_user(request, describe(config, result),
                              messages.SUCCESS if result.ok else messages.ERROR)

    @admin.action(description=gettext_lazy("Dry run cleanup"), permissions=["view"])
    def dry_run_cleanup(self, request, queryset):
        """What the daily cleanup would delete now, per config: nothing is deleted."""
        configs = list(queryset.order_by("pk")[:MAX_TESTS + 1])
        if len(configs) > MAX_TESTS:
            self.message_user(request, _("Select at most %(max)d push configs for a dry run.")
                              % {"max": MAX_TESTS}, messages.ERROR)
            return
        for config in configs:
            text = push_log_cleanup.describe(push_log_cleanup.preview(config), dry_run=True)
            if not config.cleanup_enabled:
                text += " " + _("Cleanup is off for this config.")
            self.message_user(request, text, messages.INFO)

    # -- compensation schedule -----------------------------------------------------------------
    @admin.display(description=gettext_lazy("next runs"))
    def compensation_preview(self, obj):
        """The next run times of the saved cron, in the console's time zone."""
        expression = obj.compensation_cron if obj is not None else ""
        if not expression:
            return _("Save a cron expression to see its next run times here.")
        try:
            cron = parse(expression)
        except CronError as exc:
            return str(exc)
        runs = cron.next_runs(PREVIEW_RUNS)
        fields = cron.crontab_fields()
        lines = [
            ", ".join(run.strftime("%Y-%m-%d %H:%M") for run in runs),
            _("Time zone: %(zone)s. Beat schedule: minute %(minute)s, hour %(hour)s, day of "
              "month %(day_of_month)s, month %(month_of_year)s, day of week %(day_of_week)s.")
            % {"zone": settings.TIME_ZONE, **fields},
        ]
        if not (obj.enabled and obj.compensation_enabled):
            lines.append(_("Not scheduled while the config or its compensation is off."))
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    # -- extra pages ---------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("suite/", wrap(self.suite_index_view), name="pushconfig_pushconfig_suites"),
            path("suite/<str:key>/", wrap(self.suite_create_view),
                 name="pushconfig_pushconfig_suite"),
            path("<path:object_id>/test-connection/", wrap(self.test_connection_view),
                 name="pushconfig_pushconfig_test"),
            *super().get_urls(),
        ]

    def test_connection_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        result = check_connection(obj)
        self.message_user(request, describe(obj, result),
                          messages.SUCCESS if result.ok else messages.ERROR)
        if request.POST.get("_from") == "changelist":
            return HttpResponseRedirect(reverse("admin:pushconfig_pushconfig_changelist"))
        return HttpResponseRedirect(reverse("admin:pushconfig_pushconfig_change", args=[obj.pk]))

    def suites(self):
        """Push types with a quick-create template: those that list their suite parameters."""
        for key, cls in REGISTRY.items():
            if cls.suite_params:
                push_type, implementation = (CUSTOM, key) if cls.custom else (key, "")
                yield key, cls, push_type, implementation

    def suite_index_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        suites = [{
            "key": key, "label": str(cls.label) if not cls.custom else push_type_label(
                PushConfig(push_type=push_type, implementation=implementation)),
            "implementation": cls.implementation, "params": cls.suite_params,
            "url": reverse("admin:pushconfig_pushconfig_suite", args=[key]),
        } for key, cls, push_type, implementation in self.suites()]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "title": _("Create from a suite"), "suites": suites,
            "blank_url": reverse("admin:pushconfig_pushconfig_add"),
        }
        return TemplateResponse(request, "admin/pushconfig/pushconfig/suite_index.html", context)

    def suite_create_view(self, request, key):
        if not self.has_add_permission(request):
            raise PermissionDenied
        found = {k: (cls, t, i) for k, cls, t, i in self.suites()}
        if key not in found:
            raise Http404(_("No such suite."))
        cls, push_type, implementation = found[key]
        organization = scoped_organization(request.user)
        form_class = build_suite_form(cls, push_type, implementation,
                                      with_organization=settings.DECENTRALISED_ADMIN)
        instance = PushConfig(push_type=push_type, implementation=implementation,
                              organization=organization)
        form = form_class(request.POST or None, instance=instance)
        if "organization" in form.fields and organization is not None:
            form.fields["organization"].queryset = Subcompany.objects.filter(pk=organization.pk)
            form.fields["organization"].required = True
            form.fields["organization"].empty_label = None
        if request.method == "POST" and form.is_valid():
            config = form.save(commit=False)
            if organization is not None:
                config.organization = organization
            config.save()
            self.log_addition(request, config, [{"added": {}}])
            self.message_user(request, _("The push config “%(config)s” was created from the "
                                         "%(suite)s suite. It is disabled: review it, then enable "
                                         "it.") % {"config": config, "suite": cls.label},
                              messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:pushconfig_pushconfig_change",
                                                args=[config.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "form": form,
            # A dict, not the class: templates call what is callable.
            "suite": {"label": cls.label, "implementation": cls.implementation},
            "title": _("Create from the %(suite)s suite") % {"suite": cls.label},
            "suites_url": reverse("admin:pushconfig_pushconfig_suites"),
        }
        return TemplateResponse(request, "admin/pushconfig/pushconfig/suite_form.html", context)


@admin.register(AdminScope)
class AdminScopeAdmin(admin.ModelAdmin):
    """Only superusers assign scopes: a scoped administrator must not widen their own."""

    list_display = ["user", "organization"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "organization__name"]
    autocomplete_fields = ["organization"]
    raw_id_fields = ["user"]

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    has_add_permission = has_change_permission = has_view_permission

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser
