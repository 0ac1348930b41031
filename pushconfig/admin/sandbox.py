"""Admin pages of the sandbox target: what arrived (read-only, newest first, searchable, with a
"clear all" action that needs no selection) and how each protocol answers (one row per
protocol, edited in place; the expected password is write-only)."""
import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import CharField, Value
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from integration.admin.base import ReadOnlyAdmin
from integration.admin.fields import SecretField
from integration.secrets import mask

from ..models import SandboxArrival, SandboxBehaviour, SandboxProtocol

# The path below /sandbox/ a push config's server URL ends with, per protocol.
SERVER_PATHS = {SandboxProtocol.ECOLOGY: "ecology", SandboxProtocol.E10: "e10",
                SandboxProtocol.LANDRAY: "landray", SandboxProtocol.WEBHOOK: "webhook/<name>"}


def pretty(value):
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, indent=2)
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', value if value else "—")


@admin.register(SandboxArrival)
class SandboxArrivalAdmin(ReadOnlyAdmin):
    list_display = ["id", "received_at", "protocol", "operation", "summary", "status",
                    "accepted", "mode"]
    list_display_links = ["id", "received_at"]
    list_filter = ["protocol", "operation", "accepted", "mode"]
    search_fields = ["body_text", "summary"]
    ordering = ["-id"]
    actions = ["clear_all"]
    fields = ["received_at", "protocol", "operation", "method", "path", "remote_addr",
              "summary", "mode", "status", "accepted", "headers_pretty", "body_pretty",
              "answer_pretty"]
    readonly_fields = fields

    @admin.display(description=_("headers"))
    def headers_pretty(self, obj):
        return pretty(obj.headers)

    @admin.display(description=_("body"))
    def body_pretty(self, obj):
        # SOAP keeps its envelope (masked) in the text; JSON and forms show parsed.
        return pretty(obj.body_text if obj.protocol == SandboxProtocol.LANDRAY else obj.body)

    @admin.display(description=_("answered body"))
    def answer_pretty(self, obj):
        try:
            return pretty(json.loads(obj.answer))
        except ValueError:
            return pretty(obj.answer)

    def changelist_view(self, request, extra_context=None):
        # "Clear all" empties the table whatever is selected; Django refuses an action run
        # with no selection, so a placeholder selection is supplied for it.
        if (request.method == "POST" and request.POST.get("action") == "clear_all"
                and not request.POST.getlist(ACTION_CHECKBOX_NAME)):
            post = request.POST.copy()
            post.setlist(ACTION_CHECKBOX_NAME, ["0"])
            post["select_across"] = "1"
            request.POST = post
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Clear all sandbox arrivals"), permissions=["delete"])
    def clear_all(self, request, queryset):
        deleted, _per_model = SandboxArrival.objects.all().delete()
        self.message_user(request, ngettext(
            "%(count)d sandbox arrival was deleted.", "%(count)d sandbox arrivals were deleted.",
            deleted) % {"count": deleted}, messages.SUCCESS)


class SandboxBehaviourForm(forms.ModelForm):
    password = SecretField(
        label=_("expected password"), strip=False,
        help_text=_("Landray: the password of the SOAP header; E10: the app_secret; webhook: "
                    "the signing secret (whsec_…) or the task-callback token, and signatures "
                    "are checked when it is set. Stored encrypted and never shown again; leave "
                    "blank to keep the current one."))
    forget_password = forms.BooleanField(label=_("clear the expected password"), required=False)

    class Meta:
        model = SandboxBehaviour
        fields = ["mode", "message", "status", "retry_after", "delay", "fail_first_n",
                  "username", "password"]

    def clean(self):
        data = super().clean()
        if data.get("forget_password"):
            data["password"] = ""
        elif not data.get("password"):
            data["password"] = self.instance.password  # blank keeps the current one
        return data


@admin.register(SandboxBehaviour)
class SandboxBehaviourAdmin(admin.ModelAdmin):
    form = SandboxBehaviourForm
    list_display = ["protocol", "mode", "message", "status", "retry_after", "delay",
                    "fail_first_n", "failed", "username", "server_url", "updated_at"]
    list_editable = ["mode"]
    readonly_fields = ["protocol", "server_url", "failed", "password_masked", "updated_at"]
    fieldsets = [
        (None, {"fields": ["protocol", "server_url"]}),
        (_("Answer"), {
            "fields": ["mode", "message", "status", "retry_after", "delay", "fail_first_n",
                       "failed"],
            "description": _("Succeed; refuse as the real system refuses (e-cology operResult "
                             "0, E10 data.operResult 0, Landray returnState 1, webhook HTTP "
                             "400); error (HTTP status with Retry-After); slow (wait, then "
                             "answer); or fail the first N calls with the error, then succeed. "
                             "Malformed pushes are refused in every mode but the failing ones."),
        }),
        (_("Credentials"), {
            "fields": ["username", "password", "password_masked", "forget_password"],
            "description": _("Optional. When a user is set, Landray calls must carry it and "
                             "the password in the SOAP header, and E10 token calls as app_key "
                             "and app_secret. When a password is set, webhook signatures are "
                             "checked with it."),
        }),
    ]

    def get_queryset(self, request):
        # The server URLs need the host the administrator reached the console by.
        origin = request.build_absolute_uri("/sandbox/").rstrip("/")
        return super().get_queryset(request).annotate(
            sandbox_origin=Value(origin, output_field=CharField()))

    def changelist_view(self, request, extra_context=None):
        SandboxBehaviour.ensure_all()  # one row per protocol, always
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("server URL for a push config"))
    def server_url(self, obj):
        return format_html("<code>{}/{}</code>", getattr(obj, "sandbox_origin", "/sandbox"),
                           SERVER_PATHS.get(obj.protocol, ""))

    @admin.display(description=_("expected password"))
    def password_masked(self, obj):
        return mask(obj.password) if obj and obj.password else "—"
