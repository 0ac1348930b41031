"""Admin pages of the approval-task callbacks: the sources, whose system token is write-only
(a password field that never renders it, blank keeps it, a mask shows it is set), and the
log of accepted callbacks, read-only, with a replay action."""
from django import forms
from django.contrib import admin, messages
from django.db.models import CharField, Value
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..hooks import service
from ..hooks.errors import Refused
from ..hooks.mapping import ACTIONS
from ..models import CallbackLog, CallbackSource
from ..secrets import mask
from .base import ReadOnlyAdmin, pretty_json
from .fields import SecretField

# One admin action replays at most this many callbacks; select fewer, or use the API.
MAX_REPLAY = 500


class CallbackSourceForm(forms.ModelForm):
    system_token = SecretField(
        label=_("system token"),
        help_text=_("The application's systemToken (app settings → deployment → app secret). "
                    "Stored encrypted and never shown again; when editing, leave blank to keep "
                    "the current token."),
    )

    class Meta:
        model = CallbackSource
        fields = ["name", "slug", "enabled", "system_token", "app_type", "corp_id"]

    def clean_system_token(self):
        token = self.cleaned_data.get("system_token")
        if token:
            return token
        if self.instance.pk:
            return self.instance.system_token  # blank keeps the current token
        raise forms.ValidationError(_("Enter the system token."), code="required")


@admin.register(CallbackSource)
class CallbackSourceAdmin(admin.ModelAdmin):
    form = CallbackSourceForm
    list_display = ["name", "slug", "app_type", "corp_id", "enabled", "token_masked",
                    "callback_url"]
    list_filter = ["enabled"]
    search_fields = ["name", "slug", "app_type", "corp_id"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["token_masked", "callback_urls", "created_at"]
    actions = ["enable_sources", "disable_sources"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "enabled"]}),
        (_("Signature"), {"fields": ["system_token", "token_masked"]}),
        (_("Restrictions"), {
            "fields": ["app_type", "corp_id"],
            "description": _("Optional. When set, a callback naming another appType or corpId "
                             "(or none) is refused with 400."),
        }),
        (_("Connector actions"), {
            "fields": ["callback_urls", "created_at"],
            "description": _("Create one HTTP connector action per URL on the platform, "
                             "without identity authentication: the signature authenticates."),
        }),
    ]

    def get_queryset(self, request):
        # The absolute URLs need the host the administrator reached the console by; the
        # display methods get no request, so it travels with each row.
        origin = request.build_absolute_uri("/").rstrip("/")
        return super().get_queryset(request).annotate(
            console_origin=Value(origin, output_field=CharField()))

    @admin.display(description=_("system token"))
    def token_masked(self, obj):
        return mask(obj.system_token) if obj and obj.pk else "—"

    @admin.display(description=_("callback URL"))
    def callback_url(self, obj):
        path = obj.callback_path("create").rsplit("/", 1)[0]
        return format_html("<code>{}{}/&lt;{}&gt;</code>", getattr(obj, "console_origin", ""),
                           path, _("action"))

    @admin.display(description=_("callback URLs"))
    def callback_urls(self, obj):
        if not obj or not obj.pk:
            return _("Shown once the source is saved.")
        origin = getattr(obj, "console_origin", "")
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><td>{}</td><td><code>{}{}</code></td></tr>",
                             ((CallbackLog.Action(a).label, origin, obj.callback_path(a))
                              for a in ACTIONS)))

    @admin.action(description=_("Enable selected callback sources"), permissions=["change"])
    def enable_sources(self, request, queryset):
        count = queryset.update(enabled=True)
        self.message_user(request, ngettext(
            "%(count)d callback source was enabled.", "%(count)d callback sources were enabled.",
            count) % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Disable selected callback sources"), permissions=["change"])
    def disable_sources(self, request, queryset):
        count = queryset.update(enabled=False)
        self.message_user(request, ngettext(
            "%(count)d callback source was disabled.", "%(count)d callback sources were disabled.",
            count) % {"count": count}, messages.SUCCESS)


@admin.register(CallbackLog)
class CallbackLogAdmin(ReadOnlyAdmin):
    list_display = ["id", "source", "action", "request_id", "remote_addr", "received_at",
                    "event_count", "replay_count", "last_replayed_at"]
    list_filter = ["source", "action", "received_at"]
    search_fields = ["=request_id"]
    list_select_related = ["source"]
    actions = ["replay_selected"]
    fields = ["source", "action", "request_id", "remote_addr", "received_at", "params_pretty",
              "events", "replay_count", "last_replayed_at", "fingerprint"]
    readonly_fields = fields

    @admin.display(description=_("events"))
    def event_count(self, obj):
        return len(obj.event_ids or [])

    @admin.display(description=_("parameters"))
    def params_pretty(self, obj):
        return pretty_json(obj.params)

    @admin.display(description=_("event ids"))
    def events(self, obj):
        url = reverse("admin:integration_inboundevent_changelist")
        return format_html_join(
            "", '<div><a href="{}?{}">{}</a></div>',
            ((url, urlencode({"q": event_id}), event_id) for event_id in obj.event_ids or []),
        ) or "—"

    def has_replay_permission(self, request):
        return request.user.has_perm("integration.replay_callbacklog")

    @admin.action(description=_("Replay selected callbacks"), permissions=["replay"])
    def replay_selected(self, request, queryset):
        ids = list(queryset.order_by("id").values_list("id", flat=True)[:MAX_REPLAY + 1])
        if len(ids) > MAX_REPLAY:
            self.message_user(request, _("Select at most %(max)d callbacks to replay at once.")
                              % {"max": MAX_REPLAY}, messages.ERROR)
            return
        replayed = 0
        for log_id in ids:
            try:
                service.replay(log_id)
            except Refused as exc:
                details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
                self.message_user(request, _("Callback #%(id)d was not replayed: %(errors)s")
                                  % {"id": log_id, "errors": details}, messages.ERROR)
            else:
                replayed += 1
        if replayed:
            self.message_user(request, ngettext(
                "%(count)d callback was replayed.", "%(count)d callbacks were replayed.",
                replayed) % {"count": replayed}, messages.SUCCESS)
