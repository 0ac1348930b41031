"""Admin of the messaging accounts alerts go through: IM provider accounts (the IM and the
cloud bridge channel each use the one enabled for it) and the SMS gateway. Their secrets are
write-only, as for callback sources: a password field that never renders them, blank keeps
the stored value, a mask shows one is set."""
from django import forms
from django.contrib import admin, messages
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..http import without_credentials
from ..im import ProviderError, UnknownProvider, provider_choices, provider_for
from ..models import IMAccount, SmsGateway
from ..secrets import mask
from .fields import SecretField

# A connection test waits for the provider; one action tests at most this many accounts.
MAX_TESTS = 10


def https_by_default(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class KeepSecretForm(forms.ModelForm):
    """Blank keeps the stored secret (the field never shows it)."""

    secret_name = ""

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get(self.secret_name) and self.instance.pk:
            cleaned[self.secret_name] = getattr(self.instance, self.secret_name)
        return cleaned


class IMAccountForm(KeepSecretForm):
    secret_name = "secret"
    provider = forms.ChoiceField(label=gettext_lazy("IM provider"), choices=provider_choices)
    secret = SecretField(label=gettext_lazy("secret"), help_text=gettext_lazy(
        "The application's secret. Stored encrypted and never shown again; when editing, "
        "leave blank to keep it."))

    class Meta:
        model = IMAccount
        fields = ["name", "provider", "purpose", "enabled", "base_url", "corp_id", "agent_id",
                  "secret", "user_id_field"]
        formfield_callback = https_by_default


class SmsGatewayForm(KeepSecretForm):
    secret_name = "token"
    token = SecretField(label=gettext_lazy("token"), help_text=gettext_lazy(
        "The header's value, e.g. “Bearer …”. Stored encrypted and never shown again; when "
        "editing, leave blank to keep it."))

    class Meta:
        model = SmsGateway
        fields = ["name", "enabled", "url", "method", "body_template", "token_header", "token",
                  "success_field", "success_value"]
        formfield_callback = https_by_default


class HttpsByDefault:
    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(IMAccount)
class IMAccountAdmin(HttpsByDefault, admin.ModelAdmin):
    form = IMAccountForm
    list_display = ["name", "provider_label", "purpose", "corp_id", "agent_id", "enabled",
                    "secret_masked"]
    list_filter = ["purpose", "enabled"]
    search_fields = ["name", "corp_id"]
    readonly_fields = ["secret_masked"]
    actions = ["test_connections"]
    fieldsets = [
        (None, {"fields": ["name", "provider", "purpose", "enabled"]}),
        (gettext_lazy("Application"), {
            "fields": ["base_url", "corp_id", "agent_id", "secret", "secret_masked"]}),
        (gettext_lazy("Recipients"), {"fields": ["user_id_field"]}),
    ]

    @admin.display(description=gettext_lazy("IM provider"), ordering="provider")
    def provider_label(self, obj):
        return dict(provider_choices()).get(obj.provider, obj.provider)

    @admin.display(description=gettext_lazy("secret"))
    def secret_masked(self, obj):
        return mask(obj.secret) if obj and obj.pk and obj.secret else "—"

    @admin.action(description=gettext_lazy("Test connection of selected IM accounts"),
                  permissions=["change"])
    def test_connections(self, request, queryset):
        accounts = list(queryset.order_by("pk")[:MAX_TESTS + 1])
        if len(accounts) > MAX_TESTS:
            self.message_user(request, _("Select at most %(max)d accounts to test at once.")
                              % {"max": MAX_TESTS}, messages.ERROR)
            return
        for account in accounts:
            try:
                said = provider_for(account).test_connection()
            except (ProviderError, UnknownProvider) as exc:
                self.message_user(request, _("%(account)s: %(error)s")
                                  % {"account": account, "error": getattr(exc, "reason", exc)},
                                  messages.ERROR)
            else:
                self.message_user(request, _("%(account)s: %(result)s")
                                  % {"account": account, "result": said}, messages.SUCCESS)


@admin.register(SmsGateway)
class SmsGatewayAdmin(HttpsByDefault, admin.ModelAdmin):
    form = SmsGatewayForm
    list_display = ["name", "method", "address", "enabled", "token_masked"]
    list_filter = ["enabled"]
    search_fields = ["name", "url"]
    readonly_fields = ["token_masked"]
    fieldsets = [
        (None, {"fields": ["name", "enabled"]}),
        (gettext_lazy("Request"), {
            "fields": ["url", "method", "body_template", "token_header", "token",
                       "token_masked"]}),
        (gettext_lazy("Success"), {
            "fields": ["success_field", "success_value"],
            "description": gettext_lazy("Empty: any HTTP 2xx answer means sent."),
        }),
    ]

    @admin.display(description=gettext_lazy("token"))
    def token_masked(self, obj):
        return mask(obj.token) if obj and obj.pk and obj.token else "—"

    @admin.display(description=gettext_lazy("URL"), ordering="url")
    def address(self, obj):
        return without_credentials(obj.url)
