"""The event inbox: every accepted event, kept as the audit trail of what the OA said."""
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..vocabulary import BusinessStatus, DataSet, Moment


class InboundEvent(models.Model):
    class Kind(models.TextChoices):
        TODO = "todo", _("Todo event")
        WORKFLOW = "workflow", _("Workflow event")

    event_id = models.CharField(_("event id"), max_length=128, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, db_index=True)
    # "api", or "callback:<slug>" for approval-task callbacks.
    source = models.CharField(_("source"), max_length=80, default="api", db_index=True)
    request_id = models.CharField(_("request id"), max_length=64, db_index=True)
    data_set = models.CharField(_("data set"), max_length=8, choices=DataSet.choices, blank=True)
    business_status = models.CharField(
        _("business status"), max_length=16, choices=BusinessStatus.choices, blank=True
    )
    moment = models.CharField(_("moment"), max_length=8, choices=Moment.choices, blank=True)
    receiver = models.CharField(_("receiver"), max_length=64, blank=True, db_index=True)
    workflow_id = models.CharField(_("workflow id"), max_length=64, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    applied = models.BooleanField(
        _("applied"), default=True, help_text=_("False when a newer state was already held.")
    )
    flags = models.JSONField(_("flags"), default=list, blank=True)
    flagged = models.BooleanField(_("flagged"), default=False, db_index=True)
    payload = models.JSONField(_("payload"))

    class Meta:
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        ordering = ["-id"]

    def __str__(self):
        return self.event_id
