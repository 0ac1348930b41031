"""Admin of fuse records (iut_send_fuse_recovery): each outage of a target with when it fused
and recovered, read-only, with the alerts sent for it per channel. Scoped like push configs."""
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from integration.notify import REGISTRY

from ..models import AlertLog, FuseRecord
from ..models.scope import restrict
from .log import ConfigFilter


class AlertLogInline(admin.TabularInline):
    model = AlertLog
    extra = 0
    can_delete = False
    fields = ["event", "channel_label", "outcome", "attempts", "detail", "claimed_at", "sent_at"]
    readonly_fields = fields
    ordering = ["claimed_at", "channel"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("channel"))
    def channel_label(self, obj):
        cls = REGISTRY.get(obj.channel)
        return cls.label if cls else obj.channel


@admin.register(FuseRecord)
class FuseRecordAdmin(admin.ModelAdmin):
    list_display = ["config", "create_time", "recover_time", "duration", "backlog", "probes",
                    "short_reason"]
    list_filter = [ConfigFilter, "create_time"]
    list_select_related = ["config"]
    date_hierarchy = "create_time"
    show_full_result_count = False
    fields = ["config", "create_time", "recover_time", "duration", "backlog", "probes", "reason"]
    readonly_fields = fields
    inlines = [AlertLogInline]

    def get_queryset(self, request):
        return restrict(super().get_queryset(request), request.user, "config__organization")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("fused for"))
    def duration(self, obj):
        if obj.recover_time is None:
            return _("still fused")
        seconds = int((obj.recover_time - obj.create_time).total_seconds())
        hours, rest = divmod(seconds, 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"

    @admin.display(description=_("reason"))
    def short_reason(self, obj):
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:79] + "…"
