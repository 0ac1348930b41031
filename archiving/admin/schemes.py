"""Admin of archive schemes: the id the Action's channelIds names, the export moment, the
trigger, the field mapping (with help and an example) and the target."""
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy, ngettext

from ..models import ArchiveScheme


@admin.register(ArchiveScheme)
class ArchiveSchemeAdmin(admin.ModelAdmin):
    list_display = ["name", "scheme_id", "enabled", "workflow", "node_name", "moment", "trigger",
                    "include_sign_opinions", "target"]
    list_select_related = ["workflow", "target"]
    list_filter = ["enabled", "trigger", "moment", "target"]
    search_fields = ["name", "=workflow__workflow_id"]
    autocomplete_fields = ["workflow"]
    readonly_fields = ["scheme_id", "created_at", "updated_at"]
    actions = ["enable_selected", "disable_selected"]
    fieldsets = [
        (None, {"fields": ["scheme_id", "name", "enabled", "target"]}),
        (gettext_lazy("Workflow and export moment"), {
            "fields": ["workflow", "node_name", "moment", "trigger"],
            "description": gettext_lazy(
                "With the flow trigger the request is archived when the Action intias_wf is "
                "called (an action flow's workflow trigger, or REST), with its current data. "
                "Automatically: when the OA reports the request at this node and moment, "
                "with the data of that moment — before an approval node, that node's sign "
                "opinions are not there yet; re-archive from the archive log later for the "
                "newer data."),
        }),
        (gettext_lazy("Package"), {"fields": ["field_mapping", "include_sign_opinions"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description=gettext_lazy("scheme id"), ordering="id")
    def scheme_id(self, obj):
        # Text, so the admin shows the number exactly as channelIds must carry it.
        return str(obj.pk) if obj and obj.pk else "—"

    @admin.action(description=gettext_lazy("Enable selected archive schemes"),
                  permissions=["change"])
    def enable_selected(self, request, queryset):
        count = queryset.update(enabled=True)
        self.message_user(request, ngettext("%(count)d archive scheme enabled.",
                                            "%(count)d archive schemes enabled.", count)
                          % {"count": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Disable selected archive schemes"),
                  permissions=["change"])
    def disable_selected(self, request, queryset):
        count = queryset.update(enabled=False)
        self.message_user(request, ngettext("%(count)d archive scheme disabled.",
                                            "%(count)d archive schemes disabled.", count)
                          % {"count": count}, messages.SUCCESS)
