from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import InboundEvent, TodoItem
from ..vocabulary import EventFlag
from .base import ReadOnlyAdmin


@admin.register(TodoItem)
class TodoItemAdmin(ReadOnlyAdmin):
    list_display = ["request_title", "request_link", "receiver", "identity", "data_set",
                    "business_status", "node_name", "viewed", "last_event_at"]
    list_filter = ["data_set", "business_status", "viewed", "request__workflow"]
    search_fields = ["=receiver", "=request__request_id", "request__title"]
    list_select_related = ["request"]

    @admin.display(description=_("title"), ordering="request__title")
    def request_title(self, obj):
        return obj.request.title

    @admin.display(description=_("request id"), ordering="request__request_id")
    def request_link(self, obj):
        return obj.request.request_id


class FlagFilter(admin.SimpleListFilter):
    title = _("flag")
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return EventFlag.choices

    def queryset(self, request, queryset):
        if self.value() in EventFlag.values:
            # Text match on the JSON list works on SQLite and PostgreSQL alike; `flagged`
            # (indexed) narrows the scan to the few flagged events first.
            return queryset.filter(flagged=True, flags__icontains=f'"{self.value()}"')
        return queryset


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "kind", "source", "request_id", "data_set", "business_status",
                    "moment", "receiver", "occurred_at", "received_at", "applied", "flagged"]
    list_filter = ["kind", "source", "data_set", "moment", "applied", "flagged", FlagFilter]
    search_fields = ["=event_id", "=request_id", "=receiver"]

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail is not edited by hand
