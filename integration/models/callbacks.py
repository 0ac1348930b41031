"""Approval-task callback sources (seeds 001/003) and the log of every accepted callback."""
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..secrets import EncryptedTextField

token_validator = RegexValidator(r"^\S+$", _("The system token may not contain spaces."))


class CallbackSource(models.Model):
    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(
        _("slug"), max_length=50, unique=True,
        help_text=_("Part of the callback URL: /hooks/tasks/<slug>/<action>."),
    )
    system_token = EncryptedTextField(
        _("system token"), validators=[token_validator],
        help_text=_("The application's systemToken (app settings → deployment → app secret). "
                    "Used to verify each callback's MD5 signature. Stored encrypted."),
    )
    app_type = models.CharField(
        _("app type"), max_length=64, blank=True,
        help_text=_("When set, callbacks naming another appType are refused."),
    )
    corp_id = models.CharField(
        _("corp id"), max_length=64, blank=True,
        help_text=_("When set, callbacks naming another corpId are refused."),
    )
    enabled = models.BooleanField(_("enabled"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("callback source")
        verbose_name_plural = _("callback sources")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def callback_path(self, action):
        """The path the platform's connector action posts to, e.g. /hooks/tasks/yida/create."""
        from django.urls import reverse

        return reverse("task-callback", kwargs={"source": self.slug, "action": action})


class CallbackLog(models.Model):
    """One accepted callback, with its parameters exactly as received, so it can be replayed."""

    class Action(models.TextChoices):
        CREATE = "create", _("Create task")
        FINISH = "finish", _("Finish task")
        CANCEL = "cancel", _("Cancel task")
        DELETE = "delete", _("Delete task")
        CC = "cc", _("Carbon copy")

    source = models.ForeignKey(
        CallbackSource, verbose_name=_("source"), on_delete=models.PROTECT, related_name="logs"
    )
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    params = models.JSONField(_("parameters"))
    # md5 of the parameters but sign (hooks.mapping.fingerprint): an identical callback sent
    # again is recognised and changes nothing.
    fingerprint = models.CharField(_("fingerprint"), max_length=32, blank=True, default="")
    request_id = models.CharField(_("request id"), max_length=64, blank=True, db_index=True)
    remote_addr = models.GenericIPAddressField(_("remote address"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    event_ids = models.JSONField(_("event ids"), default=list, blank=True)
    replay_count = models.PositiveIntegerField(_("replays"), default=0)
    last_replayed_at = models.DateTimeField(_("last replayed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("callback log")
        verbose_name_plural = _("callback logs")
        ordering = ["-id"]
        permissions = [("replay_callbacklog", _("Can replay callbacks"))]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "action", "fingerprint"], condition=~Q(fingerprint=""),
                name="callback_log_unique_fingerprint",
            )
        ]

    def __str__(self):
        return f"{self.source.slug}/{self.action} #{self.pk}"

