"""The circuit breaker of each push config, and the fuse records (iut_send_fuse_recovery).

Breaker state lives in its own row, shared by every worker on every machine, and changes only
through conditional UPDATEs: one worker opens a breaker, one probes it, one closes it. It is
kept apart from PushConfig so that its frequent writes never touch the config's `updated_at`
(which renews HTTP sessions and tokens).
"""
from django.db import models
from django.utils.translation import gettext_lazy as _


class Breaker(models.Model):
    class State(models.TextChoices):
        CLOSED = "closed", _("Closed (pushing)")
        OPEN = "open", _("Open (fused: pushes wait)")
        HALF_OPEN = "half_open", _("Half open (probing)")

    config = models.OneToOneField("pushconfig.PushConfig", verbose_name=_("push config"),
                                  on_delete=models.CASCADE, related_name="breaker")
    state = models.CharField(_("state"), max_length=10, choices=State.choices,
                             default=State.CLOSED)
    failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    probe_at = models.DateTimeField(_("next probe at"), null=True, blank=True)
    fuse = models.ForeignKey("pushconfig.FuseRecord", verbose_name=_("current fuse record"),
                             null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("circuit breaker")
        verbose_name_plural = _("circuit breakers")

    def __str__(self):
        return f"{self.config} [{self.state}]"


class FuseRecord(models.Model):
    """One outage of one target: when the breaker opened and when the target recovered."""

    config = models.ForeignKey("pushconfig.PushConfig", verbose_name=_("push config"),
                               on_delete=models.CASCADE, related_name="fuse_records")
    create_time = models.DateTimeField(_("fused at"), db_index=True)
    recover_time = models.DateTimeField(_("recovered at"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    backlog = models.PositiveIntegerField(_("backlog when fused"), default=0)
    probes = models.PositiveIntegerField(_("failed probes"), default=0)

    class Meta:
        verbose_name = _("fuse record")
        verbose_name_plural = _("fuse records")
        ordering = ["-create_time"]

    def __str__(self):
        return f"{self.config} {self.create_time:%Y-%m-%d %H:%M:%S}"
