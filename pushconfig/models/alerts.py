"""The alert log of fuse records: one row per (fuse record, event, channel).

The unique row is the claim: the worker whose INSERT succeeds sends that channel's alert, any
other (a repeated signal, a redelivered task) finds the row and sends nothing, so an outage
gives at most one alert per channel when it opens and one when it recovers. The row is
written as "sending" before the call and completed after it; a transient failure is marked
"failed" and taken back (a conditional UPDATE, one taker) by the task's retry, which sends only
to the persons not reached yet.
"""
from django.db import models
from django.utils.translation import gettext_lazy as _


class AlertLog(models.Model):
    class Event(models.TextChoices):
        OPEN = "open", _("Fused")
        RECOVER = "recover", _("Recovered")

    class Outcome(models.TextChoices):
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    fuse = models.ForeignKey("pushconfig.FuseRecord", verbose_name=_("fuse record"),
                             on_delete=models.CASCADE, related_name="alert_logs")
    event = models.CharField(_("event"), max_length=10, choices=Event.choices)
    channel = models.CharField(_("channel"), max_length=40)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices,
                               default=Outcome.SENDING)
    permanent = models.BooleanField(
        _("permanent failure"), default=False,
        help_text=_("Retrying cannot help: no recipient has an address on this channel, or the "
                    "channel is not configured."))
    detail = models.TextField(_("detail"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=1)
    reached = models.JSONField(_("persons reached"), default=list, blank=True,
                               help_text=_("Ids of the persons the alert reached."))
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    content = models.TextField(_("content"), blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert log")
        verbose_name_plural = _("alert logs")
        ordering = ["fuse", "event", "channel"]
        constraints = [models.UniqueConstraint(fields=["fuse", "event", "channel"],
                                               name="alert_log_once_per_channel")]

    def __str__(self):
        return f"{self.fuse_id} {self.event} {self.channel}: {self.outcome}"
