"""Archiving's codes: how a scheme is triggered, why an export ran, and how it ended."""
from django.db import models
from django.utils.translation import gettext_lazy as _


class SchemeTrigger(models.TextChoices):
    """When a scheme archives. `flow` is the seed's way: an action flow's workflow trigger
    calls the Action intias_wf (or a REST client does, or an operator re-archives)."""

    FLOW = "flow", _("When the Action intias_wf is called (flow trigger)")
    MOMENT = "moment", _("Automatically at the export moment")


class LogTrigger(models.TextChoices):
    """Why one export ran."""

    FLOW = "flow", _("Action from an action flow")
    API = "api", _("Action over REST")
    MOMENT = "moment", _("Export moment reached")
    REARCHIVE = "rearchive", _("Manual re-archive")


class Outcome(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCESS = "success", _("Success")
    FAILED = "failed", _("Failed")


class DataSource(models.TextChoices):
    """Whose data a package holds (the seed's note: what is exported depends on the moment)."""

    EVENT = "event_snapshot", _("Snapshot carried by the triggering workflow event")
    CURRENT = "current", _("The request's current data")


class JobStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
