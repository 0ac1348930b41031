from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from ..models import Request, TodoItem, Workflow, WorkflowNode, WorkflowType
from .base import BigTableAdmin, ReadOnlyAdmin


@admin.register(WorkflowType)
class WorkflowTypeAdmin(BigTableAdmin):
    list_display = ["name", "external_id"]
    search_fields = ["name", "external_id"]


class NodeInline(admin.TabularInline):
    model = WorkflowNode
    extra = 0


@admin.register(Workflow)
class WorkflowAdmin(BigTableAdmin):
    list_display = ["name", "workflow_id", "workflow_type", "active"]
    list_filter = ["active", "workflow_type"]
    search_fields = ["name", "workflow_id"]
    list_select_related = ["workflow_type"]
    inlines = [NodeInline]


class TodoItemInline(admin.TabularInline):
    model = TodoItem
    extra = 0
    can_delete = False
    fields = ["receiver", "identity", "data_set", "business_status", "node_name", "viewed",
              "last_event_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Request)
class RequestAdmin(ReadOnlyAdmin):
    list_display = ["request_id", "title", "workflow", "creator", "current_node", "status",
                    "last_event_at"]
    list_filter = ["status", "workflow__workflow_type", "workflow"]
    search_fields = ["=request_id", "title", "=creator"]
    list_select_related = ["workflow"]
    readonly_fields = ["opinions_table"]
    exclude = ["sign_opinions"]
    inlines = [TodoItemInline]

    @admin.display(description=_("sign opinions"))
    def opinions_table(self, obj):
        return format_html_join(
            "\n", "<p><b>{}</b> · {} · {}<br>{}</p>",
            ((o.get("node_name"), o.get("operator"), o.get("signed_at"), o.get("opinion", ""))
             for o in obj.sign_opinions or []),
        ) or "—"
