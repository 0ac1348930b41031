"""Push-side vocabulary: outcomes, person mappings, interception scopes."""
from django.db import models
from django.utils.translation import gettext_lazy as _


class Outcome(models.TextChoices):
    PENDING = "pending", _("Pending")          # 未返回: queued, or sent with no answer yet
    SUCCESS = "success", _("Success")
    FAILED = "failed", _("Failed")
    IGNORED = "ignored", _("Ignored")
    INTERCEPTED = "intercepted", _("Intercepted")


class PersonMapping(models.TextChoices):
    """How our person becomes the target's user id (人员转换关系)."""

    LOGIN_ID = "login_id", _("Login id")
    WORK_CODE = "work_code", _("Work code")
    EMAIL = "email", _("Email")
    MOBILE = "mobile", _("Mobile")
    PERSON_ID = "external_id", _("Person id (OA id)")


class Scope(models.TextChoices):
    ALL = "all", _("All valid")
    ALLOWLIST = "allowlist", _("Allowlist")
    DENYLIST = "denylist", _("Denylist")


class BusinessInterception(models.TextChoices):
    NONE = "none", _("No interception")
    CUSTOM = "custom", _("Custom")


class RecordKind(models.TextChoices):
    EVENT = "event", _("Event")
    BACKFILL = "backfill", _("Compensated todo")
    REALTIME = "realtime", _("Realtime push (batch task)")
    HISTORY = "history", _("History push (batch task)")
