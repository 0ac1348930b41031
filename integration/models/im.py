"""Accounts of the messaging services that alerts (and later action flows) go through:
IM provider accounts (WeCom, …) for the `im` and `cloud_bridge` channels, and the HTTP SMS
gateway for the `sms` channel. Secrets are encrypted at rest and shown masked."""
import json

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..secrets import EncryptedTextField


class IMAccount(models.Model):
    class Purpose(models.TextChoices):
        IM = "im", _("IM")
        CLOUD_BRIDGE = "cloud_bridge", _("Cloud bridge (云桥)")

    class UserIdField(models.TextChoices):
        """Which field of our person the IM platform knows them by."""

        LOGIN_ID = "login_id", _("Login id")
        WORK_CODE = "work_code", _("Work code")
        MOBILE = "mobile", _("Mobile")
        EMAIL = "email", _("Email")

    name = models.CharField(_("name"), max_length=100)
    # A registry key, not model choices: adding a provider is adding a module, not a migration.
    provider = models.CharField(_("IM provider"), max_length=40, default="wecom")
    purpose = models.CharField(
        _("used for"), max_length=16, choices=Purpose.choices, default=Purpose.IM,
        help_text=_("Alerts to “IM” go through the enabled IM account, alerts to “cloud "
                    "bridge” through the enabled cloud bridge account."))
    base_url = models.URLField(
        _("API base URL"), max_length=300, blank=True,
        help_text=_("Empty: the provider's public API (WeCom: https://qyapi.weixin.qq.com). "
                    "Set it for a private deployment or a proxy."))
    corp_id = models.CharField(_("corp id"), max_length=100, blank=True)
    agent_id = models.CharField(_("agent id"), max_length=64, blank=True,
                                help_text=_("The application's AgentId."))
    secret = EncryptedTextField(_("secret"), blank=True,
                                help_text=_("The application's secret. Stored encrypted."))
    user_id_field = models.CharField(
        _("IM user id"), max_length=16, choices=UserIdField.choices,
        default=UserIdField.LOGIN_ID,
        help_text=_("Which field of a person is their user id on the IM platform."))
    enabled = models.BooleanField(_("enabled"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("IM account")
        verbose_name_plural = _("IM accounts")
        ordering = ["purpose", "name"]
        constraints = [models.UniqueConstraint(
            fields=["purpose"], condition=Q(enabled=True),
            name="im_account_one_enabled_per_purpose",
            violation_error_message=_("Another account is already enabled for this use; "
                                      "disable it first."))]

    def __str__(self):
        return f"{self.name} ({self.get_purpose_display()})"

    @classmethod
    def active(cls, purpose):
        return cls.objects.filter(purpose=purpose, enabled=True).first()

    def user_id_of(self, person):
        return (getattr(person, self.user_id_field, "") or "").strip()

    def clean(self):
        from ..im import UnknownProvider, get_provider_class

        try:
            cls = get_provider_class(self.provider)
        except UnknownProvider as exc:
            raise ValidationError({"provider": str(exc)}) from None
        errors = cls.check_account(self)
        if errors:
            raise ValidationError(errors)


class SmsGateway(models.Model):
    """An HTTP SMS gateway: one call per mobile number (or one for all, with {mobiles})."""

    class Method(models.TextChoices):
        POST = "POST", "POST"
        PUT = "PUT", "PUT"
        GET = "GET", "GET"

    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    method = models.CharField(_("method"), max_length=6, choices=Method.choices,
                              default=Method.POST)
    body_template = models.TextField(
        _("body template"),
        default='{"mobile": "{mobile}", "content": "{content}"}',
        help_text=_("JSON. {mobile} is replaced by one mobile number (one call each), or "
                    "{mobiles} by all of them separated by commas (one call); {content} by the "
                    "alert text. Replaced inside strings only, so the text can hold quotes. "
                    "With GET, the top-level keys are sent as query parameters."))
    token_header = models.CharField(
        _("token header"), max_length=100, blank=True,
        help_text=_("Optional, e.g. “Authorization” or “X-Api-Key”: sent with the token below."))
    token = EncryptedTextField(_("token"), blank=True,
                               help_text=_("The header's value, e.g. “Bearer …”. Stored "
                                           "encrypted."))
    success_field = models.CharField(
        _("success field"), max_length=100, blank=True,
        help_text=_("Optional dotted path in the JSON answer, e.g. “code” or “result.status”. "
                    "Empty: any HTTP 2xx answer is success."))
    success_value = models.CharField(
        _("success value"), max_length=100, blank=True,
        help_text=_("The value of the success field that means sent, e.g. “0” or “OK”."))
    enabled = models.BooleanField(_("enabled"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("SMS gateway")
        verbose_name_plural = _("SMS gateways")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(
            fields=["enabled"], condition=Q(enabled=True), name="sms_gateway_one_enabled",
            violation_error_message=_("Another SMS gateway is already enabled; disable it "
                                      "first."))]

    def __str__(self):
        return self.name

    @classmethod
    def active(cls):
        return cls.objects.filter(enabled=True).first()

    def clean(self):
        errors = {}
        try:
            body = json.loads(self.body_template or "")
        except ValueError as exc:
            errors["body_template"] = _("Not valid JSON: %(error)s") % {"error": exc}
        else:
            if not isinstance(body, dict):
                errors["body_template"] = _("Use a JSON object.")
            elif "{content}" not in self.body_template or not (
                    "{mobile}" in self.body_template or "{mobiles}" in self.body_template):
                errors["body_template"] = _("Use {content}, and {mobile} or {mobiles}.")
        if self.token and not self.token_header:
            errors["token_header"] = _("Name the header that carries the token.")
        if self.success_field and not self.success_value:
            errors["success_value"] = _("Say which value of the success field means sent.")
        if errors:
            raise ValidationError(errors)
