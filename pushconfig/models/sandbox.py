"""The built-in sandbox target (/sandbox/...): what arrived, and how the sandbox answers.

`SandboxArrival` is a bounded log (the newest `RETAIN` rows are kept); `SandboxBehaviour` holds
one row per protocol saying whether the sandbox succeeds, refuses as the real system refuses,
fails with a 503, answers slowly or fails the first N calls.
"""
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from integration.secrets import EncryptedTextField

MAX_DELAY = 30  # seconds; a slow sandbox must not hold a web worker for long


class SandboxProtocol(models.TextChoices):
    ECOLOGY = "ecology", _("e-cology 8/9")
    E10 = "e10", _("E10")
    LANDRAY = "landray", _("Landray EKP (SOAP)")
    WEBHOOK = "webhook", _("Webhook")


class SandboxMode(models.TextChoices):
    SUCCEED = "succeed", _("Succeed")
    REFUSE = "refuse", _("Refuse (the target's own business failure)")
    ERROR = "error", _("Error (HTTP 503 with Retry-After)")
    SLOW = "slow", _("Slow (answer after a delay)")
    FAIL_FIRST_N = "fail_first_n", _("Fail the first N calls, then succeed")


class SandboxArrival(models.Model):
    protocol = models.CharField(_("protocol"), max_length=16, choices=SandboxProtocol.choices)
    operation = models.CharField(_("operation"), max_length=64, blank=True)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=500)
    remote_addr = models.GenericIPAddressField(_("remote address"), null=True, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True,
                               help_text=_("Cookies left out, credentials masked."))
    # Parsed: the JSON object, the form fields, or the SOAP operation's fields.
    body = models.JSONField(_("body"), null=True, blank=True)
    # What an administrator searches: JSON re-serialised without \u escapes, or the raw text.
    body_text = models.TextField(_("body as text"), blank=True)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    mode = models.CharField(_("behaviour"), max_length=16, choices=SandboxMode.choices,
                            default=SandboxMode.SUCCEED)
    status = models.PositiveSmallIntegerField(_("answered status"))
    answer = models.TextField(_("answered body"), blank=True)
    accepted = models.BooleanField(_("accepted"), default=False,
                                   help_text=_("Whether the answer tells the sender it succeeded."))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("sandbox arrival")
        verbose_name_plural = _("sandbox arrivals")
        ordering = ["-id"]
        indexes = [models.Index(fields=["protocol", "operation"], name="sandbox_protocol_op")]

    def __str__(self):
        return f"{self.get_protocol_display()} {self.operation} #{self.pk}"


class SandboxBehaviour(models.Model):
    protocol = models.CharField(_("protocol"), max_length=16, choices=SandboxProtocol.choices,
                                unique=True)
    mode = models.CharField(_("mode"), max_length=16, choices=SandboxMode.choices,
                            default=SandboxMode.SUCCEED)
    message = models.CharField(
        _("message"), max_length=200, blank=True,
        help_text=_("The reason given when refusing or failing. Empty: the protocol's usual "
                    "message (e-cology: the receiver does not exist)."))
    status = models.PositiveSmallIntegerField(
        _("HTTP status"), default=503,
        validators=[MinValueValidator(400), MaxValueValidator(599)],
        help_text=_("The status of “error” answers and of the failed calls of “fail the first "
                    "N calls”."))
    retry_after = models.PositiveIntegerField(
        _("Retry-After (seconds)"), default=30, validators=[MaxValueValidator(86400)],
        help_text=_("Sent with “error” answers; 0 sends no Retry-After header."))
    delay = models.PositiveSmallIntegerField(
        _("delay (seconds)"), default=5, validators=[MaxValueValidator(MAX_DELAY)],
        help_text=_("How long a “slow” sandbox waits before answering (at most 30 s; the "
                    "console's push types give up reading after 15 s)."))
    fail_first_n = models.PositiveIntegerField(
        _("N"), default=2, validators=[MaxValueValidator(1000)],
        help_text=_("How many calls “fail the first N calls” fails, counted from the last save "
                    "of this behaviour."))
    failed = models.PositiveIntegerField(_("calls failed so far"), default=0, editable=False)
    username = models.CharField(
        _("expected user"), max_length=100, blank=True,
        help_text=_("Empty: any credentials are accepted. Landray: the user of the SOAP header "
                    "(a wrong one gets a SOAP fault); E10: the app_key of the token calls."))
    password = EncryptedTextField(
        _("expected password"), blank=True,
        help_text=_("Landray: the password of the SOAP header; E10: the app_secret; webhook: the "
                    "signing secret (whsec_…) or the task-callback token, and signatures are "
                    "checked when it is set."))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sandbox behaviour")
        verbose_name_plural = _("sandbox behaviours")
        ordering = ["protocol"]

    def __str__(self):
        return f"{self.get_protocol_display()}: {self.get_mode_display()}"

    def save(self, *args, **kwargs):
        # A saved behaviour starts counting "fail the first N" afresh; the counter itself
        # moves only through `take_failure` (an UPDATE), which never calls save().
        if not kwargs.get("update_fields"):
            self.failed = 0
        super().save(*args, **kwargs)

    @classmethod
    def of(cls, protocol):
        behaviour, _created = cls.objects.get_or_create(protocol=protocol)
        return behaviour

    @classmethod
    def ensure_all(cls):
        existing = set(cls.objects.values_list("protocol", flat=True))
        for protocol in SandboxProtocol.values:
            if protocol not in existing:
                cls.objects.get_or_create(protocol=protocol)

    def take_failure(self):
        """Whether this call is one of the first N: one conditional UPDATE, so concurrent calls
        fail exactly N times between them."""
        return type(self).objects.filter(pk=self.pk, failed__lt=F("fail_first_n")).update(
            failed=F("failed") + 1) == 1
