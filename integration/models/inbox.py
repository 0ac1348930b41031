"""The event inbox: every accepted event, kept as the audit trail of what the OA said."""
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..vocabulary import BusinessStatus, DataSet, Moment


class InboundEvent(models.Model):
    class Kind(models.TextChoices):
        TODO = "todo", _("Todo event")
        WORKFLOW = "workflow", _("Workflow event")

    # Text columns are unique / indexed in Meta, not with unique=True / db_index=True: on
    # PostgreSQL those add a second, varchar_pattern_ops "_like" index per column for LIKE
    # queries, which the console never makes (exact matches only), and every ingest paid for.
    event_id = models.CharField(_("event id"), max_length=128)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    # "api", or "callback:<slug>" for approval-task callbacks.
    source = models.CharField(_("source"), max_length=80, default="api")
    request_id = models.CharField(_("request id"), max_length=64)
    data_set = models.CharField(_("data set"), max_length=8, choices=DataSet.choices, blank=True)
    business_status = models.CharField(
        _("business status"), max_length=16, choices=BusinessStatus.choices, blank=True
    )
    moment = models.CharField(_("moment"), max_length=8, choices=Moment.choices, blank=True)
    receiver = models.CharField(_("receiver"), max_length=64, blank=True)
    workflow_id = models.CharField(_("workflow id"), max_length=64, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    applied = models.BooleanField(
        _("applied"), default=True, help_text=_("False when a newer state was already held.")
    )
    flags = models.JSONField(_("flags"), default=list, blank=True)
    flagged = models.BooleanField(_("flagged"), default=False)  # indexed in Meta: the flagged few
    payload = models.JSONField(_("payload"))

    class Meta:
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["event_id"], name="inbound_event_id_unique"),
        ]
        indexes = [
            models.Index(fields=["kind"], name="inbound_kind"),
            models.Index(fields=["source"], name="inbound_source"),
            models.Index(fields=["request_id"], name="inbound_request_id"),
            models.Index(fields=["receiver"], name="inbound_receiver"),
            # Flagged events only: the admin and the API look for the flagged few; an entry
            # for every unflagged event (nearly all) served no query and cost each ingest.
            models.Index(fields=["id"], name="inbound_flagged", condition=models.Q(flagged=True)),
        ]

    def __str__(self):
        return self.event_id
