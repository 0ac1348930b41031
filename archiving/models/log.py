"""The archive log (归档日志): one row per export, written as `pending` before the package
leaves and completed after, so a crash mid-call leaves a visible row; and the archive jobs,
the outbox of automatic ("moment") exports."""
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integration.vocabulary import Moment

from ..vocabulary import DataSource, JobStatus, LogTrigger, Outcome


class ArchiveLog(models.Model):
    id = models.BigAutoField(primary_key=True)
    scheme = models.ForeignKey("archiving.ArchiveScheme", verbose_name=_("archive scheme"),
                               null=True, on_delete=models.SET_NULL, related_name="logs")
    # Kept as text too: the log outlives a deleted scheme or request.
    scheme_name = models.CharField(_("scheme name"), max_length=200, blank=True)
    # `request_id` is the OA's id as text (Django would give a foreign key named "request"
    # that attribute name, hence "oa_request").
    oa_request = models.ForeignKey("integration.Request", verbose_name=_("request"), null=True,
                                   on_delete=models.SET_NULL, related_name="archive_logs")
    request_id = models.CharField(_("request id"), max_length=64, db_index=True)
    workflow_id = models.CharField(_("workflow id"), max_length=64, blank=True)
    trigger = models.CharField(_("trigger"), max_length=10, choices=LogTrigger.choices)
    node_name = models.CharField(_("export node"), max_length=200, blank=True)
    moment = models.CharField(_("export moment"), max_length=8, choices=Moment.choices,
                              blank=True)
    data_source = models.CharField(_("data source"), max_length=16, choices=DataSource.choices)
    source_event_id = models.CharField(
        _("triggering event"), max_length=128, blank=True,
        help_text=_("The workflow event whose snapshot was exported (automatic exports)."))
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices,
                               default=Outcome.PENDING)
    permanent = models.BooleanField(
        _("permanent failure"), default=False,
        help_text=_("Retrying cannot help until the data or the configuration changes."))
    message = models.TextField(_("message"), blank=True)
    target = models.ForeignKey("archiving.ArchiveTarget", verbose_name=_("archive target"),
                               null=True, on_delete=models.SET_NULL, related_name="logs")
    target_name = models.CharField(_("target name"), max_length=100, blank=True)
    package_name = models.CharField(_("package"), max_length=300, blank=True)
    checksum = models.CharField(_("SHA-256"), max_length=64, blank=True)
    size = models.BigIntegerField(_("size (bytes)"), null=True, blank=True)
    exported_data = models.JSONField(_("data as exported"), default=dict, blank=True)
    target_answer = models.TextField(_("target's answer"), blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    location = models.CharField(_("stored at"), max_length=1000, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    operator = models.CharField(_("operator"), max_length=150, blank=True,
                                help_text=_("Who asked: a user, or the action flow run."))
    rearchive_of = models.ForeignKey("self", verbose_name=_("re-archive of"), null=True,
                                     blank=True, on_delete=models.SET_NULL,
                                     related_name="rearchives")
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)

    class Meta:
        verbose_name = _("archive log")
        verbose_name_plural = _("archive log")
        ordering = ["-id"]
        # The admin's filters, each served by an index ending in id (the list's order).
        indexes = [
            models.Index(fields=["scheme", "-id"], name="archive_log_scheme"),
            models.Index(fields=["outcome", "-id"], name="archive_log_outcome"),
            models.Index(fields=["trigger", "-id"], name="archive_log_trigger"),
        ]

    def __str__(self):
        return f"{self.scheme_name} · {self.request_id} · {self.get_outcome_display()}"


OPEN_JOB = Q(status__in=[JobStatus.PENDING, JobStatus.RUNNING])
FINISHED_JOB = Q(status__in=[JobStatus.DONE, JobStatus.FAILED])


class ArchiveJob(models.Model):
    """One automatic export to do: written in the inbox's transaction when a workflow event at
    a scheme's node and moment is accepted, run by a worker, re-enqueued by the sweeper when
    nobody took it. (scheme, event) is unique, so an event archives once per scheme however
    often it is delivered."""

    id = models.BigAutoField(primary_key=True)
    scheme = models.ForeignKey("archiving.ArchiveScheme", verbose_name=_("archive scheme"),
                               on_delete=models.CASCADE, related_name="jobs")
    request = models.ForeignKey("integration.Request", verbose_name=_("request"),
                                on_delete=models.CASCADE, related_name="archive_jobs")
    event_id = models.CharField(_("event id"), max_length=128)
    snapshot = models.JSONField(_("snapshot"), default=dict)
    status = models.CharField(_("status"), max_length=8, choices=JobStatus.choices,
                              default=JobStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    log = models.ForeignKey(ArchiveLog, verbose_name=_("archive log"), null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("archive job")
        verbose_name_plural = _("archive jobs")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["scheme", "event_id"],
                                               name="archive_job_once_per_event")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], condition=OPEN_JOB,
                                name="archive_job_open"),
                   # The nightly pruning's range (archiving.outbox.prune).
                   models.Index(fields=["updated_at"], condition=FINISHED_JOB,
                                name="archive_job_finished")]

    def __str__(self):
        return f"{self.scheme_id} · {self.event_id} · {self.get_status_display()}"
