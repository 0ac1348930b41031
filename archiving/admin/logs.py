"""Admin of the archive log (归档日志): a list that stays fast on a big table (no COUNT, indexed
filters, exact request id search), a read-only detail with the data as exported and the
target's answer, and the seed's manual re-archive (重新手动归档) as an action. Also the job
outbox of automatic exports, read-only."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from integration.admin.base import BigTableAdmin, IdListFilter, ReadOnlyAdmin, pretty_json

from ..models import ArchiveJob, ArchiveLog, ArchiveScheme
from ..service import RearchiveRefused, rearchive

# Re-archiving runs while the administrator waits; one action handles at most this many rows.
MAX_REARCHIVE = 20


class SchemeFilter(IdListFilter):
    """The schemes, from their own small table (not a DISTINCT over the whole log)."""

    title = gettext_lazy("archive scheme")
    parameter_name = "scheme"
    field = "scheme_id"

    def lookups(self, request, model_admin):
        return [(str(s.pk), str(s)) for s in ArchiveScheme.objects.order_by("name")]


@admin.register(ArchiveLog)
class ArchiveLogAdmin(BigTableAdmin):
    list_display = ["id", "created_at", "scheme_name", "request_id", "trigger", "outcome",
                    "short_message", "size", "duration_ms", "rearchive_of_id_display"]
    list_display_links = ["id", "created_at"]
    list_filter = [SchemeFilter, "outcome", "trigger", "created_at"]
    search_fields = ["=request_id"]
    search_help_text = gettext_lazy("Exact request id.")
    actions = ["rearchive_selected"]
    fields = ["scheme_link", "scheme_name", "request_id", "workflow_id", "trigger", "node_name",
              "moment", "data_source", "source_event_id", "outcome", "permanent", "message",
              "target_name", "package_name", "checksum", "size", "location", "http_status",
              "attempts", "operator", "rearchive_link", "created_at", "finished_at",
              "duration_ms", "exported_pretty", "answer_pretty"]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        # An exact match is what the request id's index answers (Django's "=" is iexact).
        term = search_term.strip()
        return (queryset.filter(request_id=term), False) if term else (queryset, False)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_rearchive_permission(self, request):
        return request.user.has_perm("archiving.add_archivelog")

    @admin.display(description=gettext_lazy("message"))
    def short_message(self, obj):
        return obj.message if len(obj.message) <= 80 else obj.message[:80] + "…"

    @admin.display(description=gettext_lazy("re-archive of"), ordering="rearchive_of")
    def rearchive_of_id_display(self, obj):
        # The id only: showing the row itself would cost a query per line.
        return f"#{obj.rearchive_of_id}" if obj.rearchive_of_id else "—"

    @admin.display(description=gettext_lazy("archive scheme"))
    def scheme_link(self, obj):
        if obj.scheme_id is None:
            return "—"
        url = reverse("admin:archiving_archivescheme_change", args=[obj.scheme_id])
        return format_html('<a href="{}">{}</a>', url, obj.scheme_id)

    @admin.display(description=gettext_lazy("re-archive of"))
    def rearchive_link(self, obj):
        if obj.rearchive_of_id is None:
            return "—"
        url = reverse("admin:archiving_archivelog_change", args=[obj.rearchive_of_id])
        return format_html('<a href="{}">#{}</a>', url, obj.rearchive_of_id)

    @admin.display(description=gettext_lazy("data as exported"))
    def exported_pretty(self, obj):
        return pretty_json(obj.exported_data)

    @admin.display(description=gettext_lazy("target's answer"))
    def answer_pretty(self, obj):
        return format_html("<pre>{}</pre>", obj.target_answer) if obj.target_answer else "—"

    @admin.action(description=gettext_lazy("Re-archive selected requests (current data)"),
                  permissions=["rearchive"])
    def rearchive_selected(self, request, queryset):
        entries = list(queryset.select_related("scheme__workflow", "scheme__target",
                                               "oa_request").order_by("id")[:MAX_REARCHIVE + 1])
        if len(entries) > MAX_REARCHIVE:
            self.message_user(request, _("Select at most %(max)d rows to re-archive at once.")
                              % {"max": MAX_REARCHIVE}, messages.ERROR)
            return
        done = failed = 0
        for entry in entries:
            try:
                new = rearchive(entry, operator=request.user.get_username())
            except RearchiveRefused as exc:
                failed += 1
                self.message_user(request, _("#%(id)d: %(reason)s")
                                  % {"id": entry.pk, "reason": exc}, messages.ERROR)
                continue
            if new.outcome == "success":
                done += 1
            else:
                failed += 1
                self.message_user(request, _("#%(id)d: re-archive #%(new)d failed: %(reason)s")
                                  % {"id": entry.pk, "new": new.pk, "reason": new.message},
                                  messages.ERROR)
        if done:
            self.message_user(request, ngettext(
                "%(count)d request re-archived with its current data.",
                "%(count)d requests re-archived with their current data.", done)
                % {"count": done}, messages.SUCCESS)


@admin.register(ArchiveJob)
class ArchiveJobAdmin(ReadOnlyAdmin):
    """Automatic exports waiting, running or finished: what the sweeper looks after."""

    list_display = ["id", "created_at", "scheme", "event_id", "status", "attempts",
                    "next_attempt_at", "log_link"]
    list_select_related = ["scheme"]
    list_filter = ["status"]
    search_fields = ["=event_id"]
    fields = ["scheme", "request", "event_id", "status", "attempts", "next_attempt_at",
              "claimed_until", "log_link", "created_at", "updated_at", "snapshot_pretty"]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(event_id=term), False) if term else (queryset, False)

    @admin.display(description=gettext_lazy("archive log"))
    def log_link(self, obj):
        if obj.log_id is None:
            return "—"
        url = reverse("admin:archiving_archivelog_change", args=[obj.log_id])
        return format_html('<a href="{}">#{}</a>', url, obj.log_id)

    @admin.display(description=gettext_lazy("snapshot"))
    def snapshot_pretty(self, obj):
        return pretty_json(obj.snapshot)
