"""Push configs (统一待办推送设置): one target system each, with its push type, parameters,
special data handling and interception rules."""
import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from integration.vocabulary import DataSet

from ..vocabulary import BusinessInterception, PersonMapping, Scope

_SYSTEM_NAME = re.compile(r"^[\w\s\-()（）·.]+$")


def validate_system_name(value):
    """Seed 002: not digits only, and no special characters."""
    if value.strip().isdigit():
        raise ValidationError(_("The system name may not contain only digits."))
    if not _SYSTEM_NAME.match(value):
        raise ValidationError(_("The system name may not contain special characters; use letters, "
                                "digits, spaces, “-”, “_”, “.” and brackets."))


class PushConfig(models.Model):
    enabled = models.BooleanField(_("enabled"), default=False)
    identifier = models.CharField(
        _("identifier"), max_length=64, unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9_.\-]+$",
                                   _("Use letters, digits, “_”, “.” and “-” only."))],
        help_text=_("The application system's identifier, given by the third party. Unique."),
    )
    system_name = models.CharField(_("system name"), max_length=100,
                                   validators=[validate_system_name])
    organization = models.ForeignKey(
        "integration.Subcompany", verbose_name=_("organization"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="push_configs",
        help_text=_("Shown when decentralised administration is on: only administrators of this "
                    "organization see and edit the config."),
    )
    server_url = models.URLField(_("server URL"), max_length=500,
                                 help_text=_("The address of the target system."))
    person_mapping = models.CharField(
        _("person mapping"), max_length=16, choices=PersonMapping.choices,
        default=PersonMapping.LOGIN_ID,
        help_text=_("Which field of our person the target knows them by."),
    )
    push_type = models.CharField(_("push type"), max_length=40)
    implementation = models.CharField(
        _("implementation"), max_length=200, blank=True,
        help_text=_("Filled from the push type. For a custom push type: the name of a registered "
                    "class; a name that is not registered is refused."),
    )
    params = models.JSONField(_("parameters"), default=dict, blank=True)

    filter_duplicates = models.BooleanField(
        _("duplicate filter"), default=False,
        help_text=_("Todo data set only: each person gets one todo per request; later todos of the "
                    "same request and person are ignored."),
    )
    backfill_missing_todo = models.BooleanField(
        _("missing-todo compensation"), default=False,
        help_text=_("Done and finished data sets only: when the target never got the todo, push a "
                    "copy as a todo first."),
    )

    person_scope = models.CharField(_("person interception"), max_length=10,
                                    choices=Scope.choices, default=Scope.ALL)
    workflow_scope = models.CharField(_("workflow interception"), max_length=10,
                                      choices=Scope.choices, default=Scope.ALL)
    scope_workflows = models.ManyToManyField(
        "integration.Workflow", verbose_name=_("workflows of the list"), blank=True,
        related_name="+",
    )
    business_interception = models.CharField(
        _("business interception"), max_length=8, choices=BusinessInterception.choices,
        default=BusinessInterception.NONE,
    )
    intercepted_statuses = models.JSONField(
        _("intercepted business statuses"), default=dict, blank=True,
        help_text=_("Per data set, the business statuses that are not pushed."),
    )
    intercepted_workflow_types = models.ManyToManyField(
        "integration.WorkflowType", verbose_name=_("intercepted workflow types"), blank=True,
        related_name="+",
    )

    # -- failure alerts and the circuit breaker (推送异常提醒设置 / 熔断) ----------------------------
    fuse_threshold = models.PositiveSmallIntegerField(
        _("failures before fusing"), default=5,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Consecutive transient failures (timeouts, refused connections, HTTP 5xx, "
                    "408 and 429) that open the circuit breaker. Permanent failures, such as an "
                    "unknown receiver, never count: they are about one item, not the target."),
    )
    fuse_cooldown = models.PositiveIntegerField(
        _("probe after (seconds)"), default=60,
        validators=[MinValueValidator(5), MaxValueValidator(3600)],
        help_text=_("While fused, one push is tried as a probe this often; its success closes "
                    "the breaker and the waiting pushes are delivered in order."),
    )
    alert_channels = models.JSONField(_("alert channels"), default=list, blank=True)
    alert_persons = models.ManyToManyField(
        "integration.Person", verbose_name=_("alert persons"), blank=True, related_name="+",
        help_text=_("Persons to alert (their main identity; part-time posts are not supported)."),
    )
    alert_roles = models.ManyToManyField("integration.Role", verbose_name=_("alert roles"),
                                         blank=True, related_name="+")
    alert_subject = models.CharField(
        _("email subject"), max_length=200, blank=True,
        help_text=_("Placeholders: {config}, {time}, {reason}, {backlog}, {event}. Empty: the "
                    "standard text."),
    )
    alert_content = models.TextField(
        _("email and SMS content"), blank=True,
        help_text=_("Placeholders: {config}, {time}, {reason}, {backlog}, {event}. Empty: the "
                    "standard text."),
    )

    # -- compensation (补偿设置) -------------------------------------------------------------------
    compensation_enabled = models.BooleanField(_("compensation"), default=False)
    compensation_cron = models.CharField(
        _("compensation schedule (cron)"), max_length=120, blank=True,
        help_text=_("Standard five fields (*/10 * * * *) or the Quartz form with seconds and "
                    "“?” (0 0/10 * * * ?)."),
    )
    compensation_retries = models.PositiveSmallIntegerField(
        _("re-push count"), default=3, validators=[MinValueValidator(1), MaxValueValidator(10)])
    compensation_wait = models.PositiveSmallIntegerField(
        _("wait (minutes)"), default=5, validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text=_("A record is re-pushed only after waiting this long since its last try."),
    )

    # -- cleanup (定时清理) -------------------------------------------------------------------------
    cleanup_enabled = models.BooleanField(_("cleanup"), default=False)
    cleanup_hour = models.PositiveSmallIntegerField(
        _("cleanup hour"), default=2,
        choices=[(h, f"{h:02d}:00") for h in (20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6)],
        help_text=_("Every day at this hour (20:00 to 06:00)."),
    )
    cleanup_keep_days = models.PositiveSmallIntegerField(
        _("keep days"), default=30, validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("Records older than this whose outcome is success, ignored or pending are "
                    "deleted."),
    )

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("push config")
        verbose_name_plural = _("push configs")
        ordering = ["system_name"]

    def __str__(self):
        return f"{self.system_name} ({self.identifier})"

    def delete(self, *args, **kwargs):
        """A config's push log can hold millions of rows: they go in chunks first, so the
        cascade below has nothing left to load."""
        from .log import delete_in_chunks

        delete_in_chunks(self.records.all())
        return super().delete(*args, **kwargs)

    # -- parameters: secrets are encrypted inside the JSON, never kept in clear ----------------
    @property
    def transport_class(self):
        from ..transports import get_transport_class

        return get_transport_class(self.push_type, self.implementation)

    def get_params(self):
        from integration.secrets import decrypt

        secret = self.transport_class.secret_params
        return {k: (decrypt(v) if k in secret and v else v) for k, v in self.params.items()}

    def set_params(self, plain):
        """Store validated parameters; a secret left empty keeps the stored one."""
        from integration.secrets import encrypt

        secret = self.transport_class.secret_params
        stored = dict(self.params or {})
        result = {}
        for key, value in plain.items():
            if key in secret:
                if value in ("", None):
                    if stored.get(key):
                        result[key] = stored[key]
                    continue
                result[key] = encrypt(str(value))
            else:
                result[key] = value
        self.params = result

    def masked_params(self):
        from integration.secrets import mask

        secret = self.transport_class.secret_params
        plain = self.get_params()
        return {k: (mask(v) if k in secret else v) for k, v in plain.items()}

    def clean(self):
        from integration.notify import validate_channel_keys

        from ..cron import compensation_cron_error
        from ..transports import UnknownTransport, get_transport_class

        self.compensation_cron = " ".join((self.compensation_cron or "").split())
        problem = compensation_cron_error(self.compensation_enabled, self.compensation_cron)
        if problem:
            raise ValidationError({"compensation_cron": problem})
        try:
            cls = get_transport_class(self.push_type, self.implementation)
        except UnknownTransport as exc:
            field = "implementation" if self.push_type == "custom" else "push_type"
            raise ValidationError({field: str(exc)}) from None
        if self.push_type != "custom":
            self.implementation = cls.implementation
        statuses = self.intercepted_statuses or {}
        if not isinstance(statuses, dict) or any(k not in DataSet.values for k in statuses):
            raise ValidationError({"intercepted_statuses": _("Use data sets as keys.")})
        try:
            self.alert_channels = validate_channel_keys(self.alert_channels or [])
        except ValidationError as exc:
            raise ValidationError({"alert_channels": exc.messages}) from None


class PersonRule(models.Model):
    """One entry of a config's person allowlist or denylist."""

    class Kind(models.TextChoices):
        PERSON = "person", _("Person")
        DEPARTMENT = "department", _("Department")
        SUBCOMPANY = "subcompany", _("Subcompany")
        GROUP = "group", _("Group")
        ROLE = "role", _("Role")
        POST = "post", _("Post")
        EVERYONE = "everyone", _("Everyone")

    config = models.ForeignKey(PushConfig, verbose_name=_("push config"), on_delete=models.CASCADE,
                               related_name="person_rules")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    target = models.CharField(
        _("OA id"), max_length=64, blank=True,
        help_text=_("The OA id of the person, department, subcompany, group, role or post; "
                    "empty for everyone."),
    )

    class Meta:
        verbose_name = _("person rule")
        verbose_name_plural = _("person rules")
        constraints = [models.UniqueConstraint(fields=["config", "kind", "target"],
                                               name="person_rule_unique")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.target}".strip()

    def clean(self):
        if self.kind != self.Kind.EVERYONE and not self.target:
            raise ValidationError({"target": _("Name the entry's OA id.")})
