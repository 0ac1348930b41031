"""Push addresses (推送地址管理): URL templates that replace the OA's own links in pushed todos,
per target and per URL kind (PC, app, adaptive).

An address holds ordered parameters — each a fixed value, a system variable (the time of the
push), a system parameter (tenant key, request id, the encoded original URL) or a cloud-bridge
key (fixed names, values from the one `CloudBridgeConfig`) — and is bound to push configs, with
one switch per URL kind. `pushconfig.addresses` turns them into the final URLs.

The rules live here and are used by the admin and the API alike: `AddressParameter.clean`,
`check_parameters` (rules across an address's parameters), `AddressBinding.clean` and
`check_bindings` (rules across an address's bindings). Their messages name the clash.
"""
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ValueKind(models.TextChoices):
    FIXED = "fixed", _("Fixed value")
    VARIABLE = "variable", _("System variable")
    SYSTEM = "system", _("System parameter")
    CLOUD_BRIDGE = "cloud_bridge", _("Cloud bridge")


class SystemVariable(models.TextChoices):
    """Moments of the push, in the console's time zone."""

    DATE = "date", _("Date (yyyy-MM-dd)")
    TIME = "time", _("Time (HH:mm:ss)")
    DATETIME = "datetime", _("Date and time (yyyy-MM-dd HH:mm:ss)")
    TIMESTAMP_MS = "timestamp_ms", _("Timestamp (milliseconds)")
    TIMESTAMP_S = "timestamp_s", _("Timestamp (seconds)")


class SystemParameter(models.TextChoices):
    TENANT_KEY = "tenant_key", _("Tenant key")
    REQUEST_ID = "request_id", _("Request id")
    ENCODED_URL = "encoded_url", _("Encoded original URL")


class CloudBridgeKey(models.TextChoices):
    AGENT_KEY = "agent_key", _("Cloud bridge agent key")
    CORP_KEY = "corp_key", _("Cloud bridge corp key")
    TENANT_KEY = "eb_tenant_key", _("Cloud bridge tenant key")


# The names E10's cloud bridge expects (seed 002): fixed, so not editable.
CLOUD_BRIDGE_NAMES = {
    CloudBridgeKey.AGENT_KEY: "wea_link_keep_ebAgentKey",
    CloudBridgeKey.CORP_KEY: "wea_link_keep_ebCorpKey",
    CloudBridgeKey.TENANT_KEY: "wea_link_keep_ebTenantKey",
}
SOURCES = {ValueKind.VARIABLE: SystemVariable, ValueKind.SYSTEM: SystemParameter,
           ValueKind.CLOUD_BRIDGE: CloudBridgeKey}
SOURCE_CHOICES = [(ValueKind(kind).label, choices.choices) for kind, choices in SOURCES.items()]


class UrlKind(models.TextChoices):
    """The three links a push item carries; each binding switch is named after one."""

    PC = "pc", _("PC address")
    APP = "app", _("app address")
    ADAPTIVE = "adaptive", _("adaptive address")


_absolute = URLValidator(schemes=["http", "https"])


def validate_prefix(value):
    """Seed 002: an absolute address (http://www.example.com) or a relative path (/ecology)."""
    if not value:
        return
    message = _("Enter an absolute address (http://… or https://…) or a relative path "
                "starting with “/”.")
    if any(ch.isspace() for ch in value):
        raise ValidationError(message, code="invalid")
    if value.startswith("/"):
        if value.startswith("//"):  # protocol-relative: another host, with no scheme
            raise ValidationError(message, code="invalid")
        return
    try:
        _absolute(value)
    except ValidationError:
        raise ValidationError(message, code="invalid") from None


class PushAddress(models.Model):
    enabled = models.BooleanField(_("enabled"), default=False,
                                  help_text=_("Only enabled push addresses change pushed links."))
    name = models.CharField(_("name"), max_length=100)
    redirect = models.BooleanField(
        _("redirect"), default=False,
        help_text=_("On: the link is the prefix followed by the parameters, and the prefix page "
                    "redirects to the original link it receives in the “encoded original URL” "
                    "parameter. Off: the parameters are appended to the original link."))
    prefix = models.CharField(
        _("prefix"), max_length=500, blank=True, validators=[validate_prefix],
        help_text=_("An absolute address (https://sso.example.com/jump) or a relative path "
                    "(/ecology/jump); required when redirect is on, unused otherwise."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("push address")
        verbose_name_plural = _("push addresses")
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    def clean(self):
        if self.redirect and not self.prefix:
            raise ValidationError({"prefix": _("A redirecting push address needs a prefix.")})


class AddressParameter(models.Model):
    address = models.ForeignKey(PushAddress, verbose_name=_("push address"),
                                on_delete=models.CASCADE, related_name="parameters")
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    # Blank only for cloud-bridge rows, whose name is fixed and filled in by clean().
    name = models.CharField(_("parameter name"), max_length=100, blank=True)
    remark = models.CharField(_("remark"), max_length=200, blank=True)
    kind = models.CharField(_("value kind"), max_length=16, choices=ValueKind.choices,
                            default=ValueKind.FIXED)
    value = models.CharField(_("fixed value"), max_length=500, blank=True,
                             help_text=_("For a fixed value only."))
    source = models.CharField(
        _("variable or parameter"), max_length=16, blank=True, choices=SOURCE_CHOICES,
        help_text=_("For a system variable, a system parameter or a cloud-bridge key: which "
                    "one."))

    class Meta:
        verbose_name = _("parameter")
        verbose_name_plural = _("parameters")
        ordering = ["position", "id"]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.kind == ValueKind.FIXED:
            self.source = ""
        else:
            self.value = ""
            allowed = SOURCES.get(self.kind)
            if allowed is not None and self.source not in allowed.values:
                errors["source"] = _("Choose one of the %(kind)s values: %(allowed)s.") % {
                    "kind": ValueKind(self.kind).label,
                    "allowed": ", ".join(str(label) for label in allowed.labels)}
        if self.kind == ValueKind.CLOUD_BRIDGE:
            if "source" not in errors:
                self.name = CLOUD_BRIDGE_NAMES[self.source]
        elif not self.name.strip():
            errors["name"] = _("Name the parameter.")
        else:
            self.name = self.name.strip()
        if errors:
            raise ValidationError(errors)


def check_parameters(address, parameters):
    """Rules across an address's parameters (each already clean, in order).
    Returns {"parameters": message} or {}; a message names the clash."""
    seen = set()
    for parameter in parameters:
        if parameter.name in seen:
            return {"parameters": _("The parameter name “%(name)s” is used twice; each name "
                                    "may appear once.") % {"name": parameter.name}}
        seen.add(parameter.name)
    if address.redirect and not any(p.kind == ValueKind.SYSTEM
                                    and p.source == SystemParameter.ENCODED_URL
                                    for p in parameters):
        return {"parameters": _(
            "A redirecting push address needs a parameter whose value is the system parameter "
            "“%(encoded)s”: it is how the prefix page finds the original link.")
            % {"encoded": SystemParameter.ENCODED_URL.label}}
    return {}


class CloudBridgeConfig(models.Model):
    """The E10 cloud bridge's keys (云桥配置), one row for the console. They travel in every
    link that uses them, so they are not secrets."""

    agent_key = models.CharField(_("agent key"), max_length=100, blank=True,
                                 help_text=_("Sent as wea_link_keep_ebAgentKey."))
    corp_key = models.CharField(_("corp key"), max_length=100, blank=True,
                                help_text=_("Sent as wea_link_keep_ebCorpKey."))
    tenant_key = models.CharField(_("tenant key"), max_length=100, blank=True,
                                  help_text=_("Sent as wea_link_keep_ebTenantKey."))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("cloud bridge")
        verbose_name_plural = _("cloud bridge")

    def __str__(self):
        return str(_("Cloud bridge"))

    SINGLETON = 1

    def save(self, *args, **kwargs):
        self.pk = self.SINGLETON
        super().save(*args, **kwargs)

    @classmethod
    def current(cls):
        """The configuration (unsaved and empty until an administrator saves one)."""
        return cls.objects.filter(pk=cls.SINGLETON).first() or cls(pk=cls.SINGLETON)

    # Which field holds each key.
    FIELDS = {CloudBridgeKey.AGENT_KEY: "agent_key", CloudBridgeKey.CORP_KEY: "corp_key",
              CloudBridgeKey.TENANT_KEY: "tenant_key"}

    def value_of(self, key):
        return getattr(self, self.FIELDS[key])

    @classmethod
    def label_of(cls, key):
        return cls._meta.get_field(cls.FIELDS[key]).verbose_name


class AddressBinding(models.Model):
    address = models.ForeignKey(PushAddress, verbose_name=_("push address"),
                                on_delete=models.CASCADE, related_name="bindings")
    config = models.ForeignKey("pushconfig.PushConfig", verbose_name=_("push config"),
                               on_delete=models.CASCADE, related_name="address_bindings")
    pc = models.BooleanField(_("PC address"), default=False)
    app = models.BooleanField(_("app address"), default=False)
    adaptive = models.BooleanField(_("adaptive address"), default=False)

    # clean() checks these with messages that name the clash; the database enforces them
    # too, so two administrators saving at once cannot both win.
    NAMED_CONSTRAINTS = {"address_binding_one_switch", "address_binding_one_pc",
                         "address_binding_one_app", "address_binding_one_adaptive"}

    class Meta:
        verbose_name = _("bound push config")
        verbose_name_plural = _("bound push configs")
        ordering = ["address", "id"]
        constraints = [
            models.UniqueConstraint(fields=["address", "config"], name="address_binding_unique"),
            models.CheckConstraint(condition=Q(pc=True) | Q(app=True) | Q(adaptive=True),
                                   name="address_binding_one_switch"),
            models.UniqueConstraint(fields=["config"], condition=Q(pc=True),
                                    name="address_binding_one_pc"),
            models.UniqueConstraint(fields=["config"], condition=Q(app=True),
                                    name="address_binding_one_app"),
            models.UniqueConstraint(fields=["config"], condition=Q(adaptive=True),
                                    name="address_binding_one_adaptive"),
        ]

    def __str__(self):
        return f"{self.address} → {self.config}"

    @property
    def kinds(self):
        return [kind for kind in UrlKind.values if getattr(self, kind)]

    def get_constraints(self):
        return [(model, [c for c in constraints if c.name not in self.NAMED_CONSTRAINTS])
                for model, constraints in super().get_constraints()]

    def unique_error_message(self, model_class, unique_check):
        if tuple(unique_check) == ("address", "config"):
            return ValidationError(_bound_twice(self.config), code="unique")
        return super().unique_error_message(model_class, unique_check)

    def clean(self):
        if self.config_id is None:
            return  # the config field reports its own error
        errors = check_bindings(self.address if self.address_id else None, [self],
                                within=False)[0]
        if errors:
            raise ValidationError(errors)


def _bound_twice(config):
    return _("The push config “%(config)s” is bound to this push address twice; bind a config "
             "once and switch on the addresses it takes from here.") % {"config": config}


def check_bindings(address, bindings, within=True):
    """Errors of each binding (a dict field → message, in the bindings' order) for `bindings`
    replacing the bindings of `address` (None: an address not saved yet): at least one switch;
    a config bound once (when `within`, among `bindings`); and a config's PC, app or adaptive
    address set in one push address only, naming the other address."""
    errors = [{} for _binding in bindings]
    config_ids = {b.config_id for b in bindings if b.config_id is not None}
    others = AddressBinding.objects.filter(config_id__in=config_ids).select_related("address")
    if address is not None and address.pk is not None:
        others = others.exclude(address_id=address.pk)
    taken = {}
    for other in others:
        for kind in other.kinds:
            taken[(other.config_id, kind)] = other.address
    seen = set()
    for binding, error in zip(bindings, errors, strict=True):
        if not binding.kinds:
            error[NON_FIELD_ERRORS] = _(
                "Switch on at least one of PC address, app address and adaptive address for "
                "the push config “%(config)s”.") % {"config": binding.config}
        if within and binding.config_id in seen:
            error["config"] = _bound_twice(binding.config)
            continue
        seen.add(binding.config_id)
        for kind in binding.kinds:
            other = taken.get((binding.config_id, kind))
            if other is not None:
                error[kind] = _(
                    "The push config “%(config)s” already takes its %(kind)s from the push "
                    "address “%(other)s”; a config's %(kind)s may be set in one push address "
                    "only.") % {"config": binding.config, "kind": UrlKind(kind).label,
                                "other": other}
    return errors
