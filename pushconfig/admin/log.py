"""Admin of the push log (推送日志): a list that stays fast with millions of records (no COUNT,
exact matches on indexed columns, no facets, no date hierarchy), a read-only detail with every
attempt, and the seed's two bulk actions: re-push and delete."""

from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.db.models import Q
from django.http import Http404
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from integration.admin.base import BigTableAdmin, IdListFilter, pretty_json

from ..api.operations import MAX_BULK, repush
from ..models import PushAttempt, PushConfig, PushRecord
from ..models.scope import restrict

# The search box matches these columns exactly (each has an index); "=" documents it.
SEARCH_COLUMNS = ("receiver", "request_id", "event_id", "workflow_id")


class ConfigFilter(IdListFilter):
    """The configs the administrator may see (not a DISTINCT over the whole log)."""

    title = gettext_lazy("push config")
    parameter_name = "config"
    field = "config_id"

    def lookups(self, request, model_admin):
        configs = restrict(PushConfig.objects.all(), request.user).order_by("system_name")
        return [(str(c.pk), str(c)) for c in configs]


class PushAttemptInline(admin.TabularInline):
    model = PushAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "finished_at", "outcome", "http_status", "duration_ms",
              "error_class", "request_sent", "answer"]
    readonly_fields = fields
    ordering = ["number"]

    @admin.display(description=gettext_lazy("request sent"))
    def request_sent(self, obj):
        return pretty_json(obj.request)

    @admin.display(description=gettext_lazy("answer received"))
    def answer(self, obj):
        return format_html("<pre>{}</pre>", obj.response) if obj.response else "—"

    # Attempts are part of the record: whoever may see the record sees them, nobody edits.
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("pushconfig.view_pushrecord") or \
            request.user.has_perm("pushconfig.change_pushrecord")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PushRecord)
class PushRecordAdmin(BigTableAdmin):
    list_display = ["id", "config", "event_id", "receiver", "request_id", "data_set",
                    "business_status", "outcome", "short_reason", "attempts", "created_at",
                    "pushed_at"]
    list_display_links = ["id", "event_id"]
    list_select_related = ["config"]
    list_filter = [ConfigFilter, "outcome", "data_set", "created_at"]
    search_fields = ["=" + column for column in SEARCH_COLUMNS]
    search_help_text = gettext_lazy("Exact receiver, request id, event id or workflow id.")
    show_facets = ShowFacets.NEVER
    list_max_show_all = 0  # "show all" would load the whole log
    actions = ["repush_selected", "delete_selected"]
    inlines = [PushAttemptInline]
    fields = ["config", "event_link", "event_id", "kind", "idempotency_key", "lane",
              "request_id", "receiver", "identity", "creator", "workflow_id", "data_set",
              "business_status", "outcome", "reason", "permanent", "attempts", "in_flight",
              "next_attempt_at", "created_at", "pushed_at", "payload_pretty"]
    readonly_fields = fields

    def get_queryset(self, request):
        return restrict(super().get_queryset(request), request.user, "config__organization")

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:  # absent, or another organization's: the same answer for both
            raise Http404(_("No such push record."))
        return obj

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"max_bulk": MAX_BULK, **(extra_context or {})})

    def get_search_results(self, request, queryset, search_term):
        # Django's "=" is a case-insensitive match (UPPER(col) = UPPER(term)), which no
        # B-tree index serves; an exact match on each column is what the indexes answer.
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q()
        for column in SEARCH_COLUMNS:
            match |= Q(**{column: term})
        return queryset.filter(match), False

    # Read-only records: the detail page shows, never saves; the change permission is what
    # the re-push action needs.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False
        return super().has_change_permission(request)

    @admin.display(description=gettext_lazy("reason"))
    def short_reason(self, obj):
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:80] + "…"

    @admin.display(description=gettext_lazy("being sent"))
    def in_flight(self, obj):
        # A try's attempt is written with its answer: until then this is where it shows.
        flight = obj.in_flight_try()
        if flight is None:
            return "—"
        return _("try %(number)d, on the wire since %(started)s") % {
            "number": flight["number"],
            "started": formats.localize(timezone.localtime(flight["started_at"]))}

    @admin.display(description=gettext_lazy("event"))
    def event_link(self, obj):
        if not obj.inbound_event_id:
            return "—"
        url = reverse("admin:integration_inboundevent_change", args=[obj.inbound_event_id])
        return format_html('<a href="{}">{}</a>', url, obj.event_id)

    @admin.display(description=gettext_lazy("data"))
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)

    @admin.action(description=gettext_lazy("Re-push selected push records"),
                  permissions=["change"])
    def repush_selected(self, request, queryset):
        count, more = repush(queryset)
        self.message_user(request, ngettext(
            "%(count)d push record was set back to pending and queued.",
            "%(count)d push records were set back to pending and queued.",
            count) % {"count": count}, messages.SUCCESS)
        if more:
            self.message_user(request, _("Only the first %(max)d were re-pushed; run the action "
                                         "again for the rest.") % {"max": MAX_BULK},
                              messages.WARNING)
