"""Automatic ("moment") archiving: the outbox of DESIGN.md.

Inside the inbox's transaction (the `workflow_events_accepted` signal) each workflow event that
reaches an enabled automatic scheme's node at its moment (before / after) becomes an
ArchiveJob row holding the snapshot the event carried: its form data and sign opinions, or
the request's, as just updated, for what the event left out. When the transaction commits the
jobs are enqueued on the "archive" queue; a worker claims a job with a conditional UPDATE (so
two workers never run one), exports it and records the outcome. A beat sweeper re-enqueues
jobs nobody took (broker down, worker died mid-export, a retry coming due): a broker outage
delays archiving, it never loses it. Transient failures are retried with backoff
(ARCHIVE_RETRY_BASE_SECONDS doubling, at most 30 minutes, ARCHIVE_MAX_ATTEMPTS in all).

The job's log row is created and linked right after the first claim, before the package
leaves; every later attempt (a retry, or a claim taken over from a dead worker) reuses that
row and the job's idempotency key `archive-job-<job id>`, so the archive system can drop a
repeat. Each claim bumps `attempts`, which fences the claim: a worker that outlived its lease
finds its writes to the job and the log row refused and leaves them to the taker.
"""
import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from integration.models import InboundEvent
from integration.signals import workflow_events_accepted

from . import conf
from .models import ArchiveJob, ArchiveScheme
from .models.log import FINISHED_JOB
from .service import Snapshot, Superseded, export, export_data, new_log, refuse, save_fenced
from .vocabulary import JobStatus, LogTrigger, SchemeTrigger

log = logging.getLogger(__name__)
# A job just written is left to the enqueue of its own commit for this long before the sweeper
# sends it again.
SWEEP_GRACE = timedelta(seconds=30)
SWEEP_BATCH = 1000


def snapshot_of(event, request):
    """What the event said the request looked like at that moment, as JSON."""
    payload = event.payload or {}
    return {
        "event_id": event.event_id,
        "as_of": payload.get("occurred_at") or event.occurred_at.isoformat(),
        "node_name": payload.get("node_name", ""),
        "moment": event.moment,
        # The OA leaves form data or opinions out when unchanged: the request holds them.
        "form_data": payload["form_data"] if "form_data" in payload else request.form_data,
        "sign_opinions": (payload["sign_opinions"] if "sign_opinions" in payload
                          else request.sign_opinions),
    }


def plan_jobs(sender, events, requests, **kwargs):
    """Receiver of workflow_events_accepted: one job per (event, matching automatic scheme)."""
    events = [e for e in events if e.kind == InboundEvent.Kind.WORKFLOW and e.moment]
    if not events:
        return
    schemes = ArchiveScheme.objects.filter(
        enabled=True, trigger=SchemeTrigger.MOMENT,
        workflow__workflow_id__in={e.workflow_id for e in events}).select_related("workflow")
    by_moment = {}
    for scheme in schemes:
        key = (scheme.workflow.workflow_id, scheme.node_name, scheme.moment)
        by_moment.setdefault(key, []).append(scheme)
    if not by_moment:
        return
    jobs = []
    for event in events:
        key = (event.workflow_id, (event.payload or {}).get("node_name", ""), event.moment)
        request = requests.get(event.request_id)
        if request is None or request.pk is None:
            continue
        for scheme in by_moment.get(key, []):
            jobs.append(ArchiveJob(scheme=scheme, request=request, event_id=event.event_id,
                                   snapshot=snapshot_of(event, request)))
    if not jobs:
        return
    # A replayed event carries a fresh id; the unique (scheme, event) only guards repeats.
    ArchiveJob.objects.bulk_create(jobs, ignore_conflicts=True)
    ids = list(ArchiveJob.objects.filter(
        event_id__in={j.event_id for j in jobs}, scheme__in={j.scheme_id for j in jobs},
        status=JobStatus.PENDING).values_list("id", flat=True))
    transaction.on_commit(lambda: enqueue(ids), robust=True)


def enqueue(job_ids):
    """Hand jobs to workers. A broker outage only delays them: the sweeper finds them."""
    from .tasks import run_job

    for job_id in sorted(job_ids):
        try:
            run_job.apply_async((job_id,), retry=False)
        except Exception:
            log.warning("broker unavailable: %d archive job(s) left to the sweeper",
                        len(job_ids), exc_info=True)
            return  # one failure says the broker is down: don't wait on it for every job


def due_jobs(now=None):
    now = now or timezone.now()
    return ArchiveJob.objects.filter(
        (Q(status=JobStatus.PENDING)
         & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)))
        | Q(status=JobStatus.RUNNING, claimed_until__lt=now))


def claim(job_id):
    """Take a job for this worker: one conditional UPDATE, so only one worker wins it."""
    now = timezone.now()
    lease = timedelta(seconds=conf.get("ARCHIVE_JOB_LEASE_SECONDS"))
    return due_jobs(now).filter(pk=job_id).update(
        status=JobStatus.RUNNING, claimed_until=now + lease, attempts=F("attempts") + 1,
        updated_at=now) == 1


def backoff_seconds(attempts):
    return min(conf.get("ARCHIVE_RETRY_BASE_SECONDS") * 2 ** (attempts - 1), 1800)


def holds(job):
    """The fence of this worker's claim on `job`: a later claim (the lease ran out, the
    sweeper handed the job on) bumped `attempts`, and a finished job is no longer running."""
    return dict(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts)


def open_log(job):
    """The job's log row, created and linked in its own short transaction before anything
    leaves, so a worker killed mid-export leaves the row for the next claim to reuse (and
    never a second row for one job)."""
    if job.log is not None:
        return job.log
    with transaction.atomic():
        data = export_data(job.scheme, job.request, LogTrigger.MOMENT,
                           Snapshot.from_json(job.snapshot))
        entry = new_log(job.scheme, job.request, LogTrigger.MOMENT, data)
        entry.save()
        if not ArchiveJob.objects.filter(log__isnull=True, **holds(job)).update(log=entry):
            raise Superseded(job.pk)
    job.log = entry
    return entry


def run_job(job_id):
    """Export one job if it can be claimed; returns the job (None when another worker has it,
    took it over meanwhile, or nothing is due)."""
    if not claim(job_id):
        return None
    job = ArchiveJob.objects.select_related(
        "scheme__workflow", "scheme__target", "request", "log").get(pk=job_id)
    scheme = job.scheme
    snapshot = Snapshot.from_json(job.snapshot)
    # Every write of the log row holds only while this claim does: a worker that outlived its
    # lease must not overwrite what the worker that took over is writing.
    fence = Exists(ArchiveJob.objects.filter(log=OuterRef("pk"), **holds(job)))
    try:
        entry = open_log(job)
        if scheme.enabled:
            entry = export(scheme, job.request, LogTrigger.MOMENT, snapshot=snapshot,
                           entry=entry, idempotency_key=f"archive-job-{job.pk}", fence=fence)
        else:
            # Disabling a scheme stops its archiving, also of jobs already written; the row
            # says so, and a manual re-archive is still possible.
            entry = refuse(scheme, job.request, LogTrigger.MOMENT,
                           _("The archive scheme was disabled before the export ran."),
                           snapshot=snapshot, entry=entry, fence=fence)
        now = timezone.now()
        if entry.outcome == "success":
            status, next_attempt_at = JobStatus.DONE, None
        elif entry.permanent or job.attempts >= conf.get("ARCHIVE_MAX_ATTEMPTS"):
            status, next_attempt_at = JobStatus.FAILED, None
            if not entry.permanent:
                entry.message += " " + _("(gave up after %(n)d attempts)") % {"n": job.attempts}
                save_fenced(entry, ["message"], fence)
        else:
            status = JobStatus.PENDING
            next_attempt_at = now + timedelta(seconds=backoff_seconds(job.attempts))
        if not ArchiveJob.objects.filter(**holds(job)).update(
                status=status, next_attempt_at=next_attempt_at, claimed_until=None,
                updated_at=now):
            raise Superseded(job.pk)
    except Superseded:
        log.warning("archive job %d: claim %d was taken over, its outcome left to the taker",
                    job.pk, job.attempts)
        return None
    job.status, job.next_attempt_at, job.claimed_until, job.updated_at = (
        status, next_attempt_at, None, now)
    return job


def sweep():
    """Re-enqueue jobs no worker took: pending past the grace period (their own enqueue was
    lost), due retries, and claims whose worker died. Returns how many were enqueued."""
    now = timezone.now()
    ids = list(due_jobs(now).filter(
        Q(status=JobStatus.RUNNING) | Q(next_attempt_at__isnull=False)
        | Q(updated_at__lt=now - SWEEP_GRACE)).order_by("id").values_list(
        "id", flat=True)[:SWEEP_BATCH])
    enqueue(ids)
    return len(ids)


def prune(now=None, chunk=1000):
    """Delete jobs finished (archived, or failed for good) over ARCHIVE_JOB_KEEP_DAYS ago, in
    short chunks so no long transaction holds the table; pending and running jobs are never
    pruned. The log rows stay. Returns how many were deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=conf.get("ARCHIVE_JOB_KEEP_DAYS"))
    old = ArchiveJob.objects.filter(FINISHED_JOB, updated_at__lt=cutoff)
    deleted = 0
    while True:
        ids = list(old.order_by("updated_at").values_list("id", flat=True)[:chunk])
        if not ids:
            return deleted
        # The status is checked again in the DELETE itself: only finished jobs ever go.
        deleted += old.filter(id__in=ids).delete()[0]


def connect():
    workflow_events_accepted.connect(plan_jobs, dispatch_uid="archiving.plan_jobs")
