"""Admin of the IM groups and messages action flows made (actionflow.steps.im).

Both are records of what was done on the IM platform, so they are read-only. Two actions on
groups change the console's side only: "Mark dissolved" (WeCom has no API to dissolve an app
chat; the console stops sending to the group and its matter may get a new group) and "End
topic" (nobody may speak in a topic group whose topic ended: the console refuses to send to
it). Groups are never deleted: the row is what keeps a matter to one group.
"""
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from integration.admin.base import ReadOnlyAdmin

from ..models import IMGroup, IMMessage

Status = IMGroup.Status


def joined(logins):
    return ", ".join(logins or []) or "—"


@admin.register(IMGroup)
class IMGroupAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "status", "topic_state", "matter", "owner", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["name", "=matter_id", "=provider_group_id"]
    list_select_related = ["account"]
    actions = ["mark_dissolved", "end_topic"]
    fields = ["name", "kind", "status", "topic_state", "account", "provider_group_id", "owner",
              "admin_list", "member_list", "matter_type", "matter_id", "matter_link",
              "created_by_run", "created_at", "updated_at", "dissolved_at"]
    readonly_fields = fields

    @admin.display(description=_("matter"), ordering="matter_id")
    def matter(self, obj):
        if obj.kind != IMGroup.Kind.MATTER:
            return "—"
        label = f"{obj.matter_type} {obj.matter_id}"
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>',
                           obj.matter_url, label) if obj.matter_url else label

    @admin.display(description=_("matter link"))
    def matter_link(self, obj):
        if not obj.matter_url:
            return "—"
        return format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a>',
                           obj.matter_url)

    @admin.display(description=_("members"))
    def member_list(self, obj):
        return joined(obj.members)

    @admin.display(description=_("admins"))
    def admin_list(self, obj):
        return joined(obj.admins)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_manage_permission(self, request):
        # The fields stay read-only; changing the state is what "change" allows here.
        return request.user.has_perm("actionflow.change_imgroup")

    @admin.action(description=_("Mark dissolved"), permissions=["manage"])
    def mark_dissolved(self, request, queryset):
        now = timezone.now()
        groups = list(queryset.exclude(status=Status.DISSOLVED))
        for group in groups:
            IMGroup.objects.filter(pk=group.pk).exclude(status=Status.DISSOLVED).update(
                status=Status.DISSOLVED, dissolved_at=now, updated_at=now)
            self.log_change(request, group, [{"changed": {"fields": ["status"]}}])
        self.message_user(request, ngettext(
            "%(count)d group was marked dissolved; its chat stays on the IM platform, which "
            "has no way to dissolve it.",
            "%(count)d groups were marked dissolved; their chats stay on the IM platform, "
            "which has no way to dissolve them.", len(groups)) % {"count": len(groups)},
            messages.SUCCESS if groups else messages.WARNING)

    @admin.action(description=_("End topic"), permissions=["manage"])
    def end_topic(self, request, queryset):
        topics = queryset.filter(kind=IMGroup.Kind.TOPIC,
                                 topic_state=IMGroup.TopicState.DISCUSSING)
        groups = list(topics)
        for group in groups:
            IMGroup.objects.filter(pk=group.pk).update(
                topic_state=IMGroup.TopicState.ENDED, updated_at=timezone.now())
            self.log_change(request, group, [{"changed": {"fields": ["topic_state"]}}])
        skipped = queryset.count() - len(groups)
        if groups:
            self.message_user(request, ngettext(
                "The topic of %(count)d group ended; nothing more can be sent to it.",
                "The topics of %(count)d groups ended; nothing more can be sent to them.",
                len(groups)) % {"count": len(groups)}, messages.SUCCESS)
        if skipped:
            self.message_user(request, ngettext(
                "%(count)d selected group is not a topic group under discussion; it was left "
                "as it is.",
                "%(count)d selected groups are not topic groups under discussion; they were "
                "left as they are.", skipped) % {"count": skipped}, messages.WARNING)


@admin.register(IMMessage)
class IMMessageAdmin(ReadOnlyAdmin):
    list_display = ["title_or_body", "kind", "status", "to", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["title", "recipients"]
    list_select_related = ["group"]
    fields = ["kind", "status", "account", "group", "recipient_list", "not_reached", "title",
              "body", "url", "provider_message_id", "error", "run", "created_at"]
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("title"), ordering="title")
    def title_or_body(self, obj):
        return str(obj) or "—"

    @admin.display(description=_("to"))
    def to(self, obj):
        if obj.group_id:
            return _("group %(name)s") % {"name": obj.group.name}
        return joined(obj.recipients)

    @admin.display(description=_("recipients"))
    def recipient_list(self, obj):
        return joined(obj.recipients)

    @admin.display(description=_("not reached"))
    def not_reached(self, obj):
        return joined(obj.invalid_users)
