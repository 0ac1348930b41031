"""Runs of action flows and the log of each step they executed.

A run is written before it is executed (the outbox rule): a worker that dies mid-run leaves a
`running` row whose lease expires, and the sweeper hands it to another worker, which resumes
after the last finished step. Runs that keep losing their worker end `failed` with the reason
and can be run again; none is ever silently gone.
"""
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class FlowRun(models.Model):
    class Trigger(models.TextChoices):
        WORKFLOW = "workflow", _("Workflow event")
        DATE_FIELD = "date_field", _("Date field")
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Manual (admin)")
        API = "api", _("REST API")
        ESB = "esb", _("ESB push")
        FLOW = "flow", _("Another flow")
        RERUN = "rerun", _("Re-run")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCESS = "success", _("Succeeded")
        FAILED = "failed", _("Failed")

    FINISHED = (Status.SUCCESS, Status.FAILED)

    flow = models.ForeignKey("actionflow.ActionFlow", verbose_name=_("action flow"),
                             on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey("actionflow.FlowVersion", verbose_name=_("version"),
                                on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices,
                              default=Status.QUEUED)
    input = models.JSONField(_("input"), default=dict, blank=True)
    message = models.TextField(_("message"), blank=True,
                               help_text=_("The output step's message, or why the run failed."))
    failed_step = models.CharField(_("failed step"), max_length=40, blank=True)
    # Executed by the web request that accepted a "before" workflow event, not by a worker
    # (the sweeper takes it over if that request never got to it).
    inline = models.BooleanField(_("run while the OA waits"), default=False)
    attempts = models.PositiveSmallIntegerField(_("executions"), default=0)
    lease_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    event_id = models.CharField(_("event id"), max_length=128, blank=True, db_index=True)
    push_record_id = models.BigIntegerField(_("push record"), null=True, blank=True,
                                            db_index=True)
    parent_run = models.ForeignKey("self", verbose_name=_("called by run"), null=True,
                                   blank=True, on_delete=models.SET_NULL, related_name="+")
    # The step of the parent run that called this one: a parent resumed after a lost worker
    # finds the run its step already started instead of starting a second.
    parent_step = models.CharField(_("called by step"), max_length=40, blank=True)
    rerun_of = models.ForeignKey("self", verbose_name=_("re-run of"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="reruns")
    requested_by = models.CharField(_("requested by"), max_length=150, blank=True)
    alerted_at = models.DateTimeField(_("alert sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)

    class Meta:
        verbose_name = _("flow run")
        verbose_name_plural = _("flow runs")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["flow", "-id"], name="run_flow_recent"),
            models.Index(fields=["status", "-id"], name="run_status_recent"),
            # The sweeper's look-up: unfinished runs only, a small part of the table.
            models.Index(fields=["lease_until"], name="run_unfinished",
                         condition=Q(status__in=["queued", "running"])),
        ]

    def __str__(self):
        return f"#{self.pk} {self.flow} v{self.version.number if self.version_id else '?'}"

    @property
    def finished(self):
        return self.status in self.FINISHED


class StepRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCESS = "success", _("Succeeded")
        FAILED = "failed", _("Failed")

    run = models.ForeignKey(FlowRun, verbose_name=_("flow run"), on_delete=models.CASCADE,
                            related_name="steps")
    seq = models.PositiveSmallIntegerField(_("order"))
    key = models.CharField(_("key"), max_length=40)
    kind = models.CharField(_("kind"), max_length=40)
    name = models.CharField(_("name"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices,
                              default=Status.RUNNING)
    continued = models.BooleanField(_("failure ignored"), default=False)
    input = models.JSONField(_("input"), default=dict, blank=True)
    output = models.JSONField(_("output"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    tries = models.PositiveSmallIntegerField(_("tries"), default=0)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)

    class Meta:
        verbose_name = _("step log")
        verbose_name_plural = _("step logs")
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="step_run_unique")]

    def __str__(self):
        return f"{self.key} ({self.get_status_display()})"
