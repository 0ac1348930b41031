"""Batch push tasks (批量推送) on the "batch" queue: the runner, the operations the admin and
the API share (create, preview, pause, resume, retry, cancel, delete), counts, the failure
export and the daily purge.

A task's source is streamed in id order from its cursor, CHUNK rows per step: a realtime
task reads todo items (their current state, with their request), a history task reads its
config's push log. Each step writes one push record per row (COPY on PostgreSQL) and moves the
cursor in the same transaction, so a worker that dies mid-step leaves nothing half done and
the next step starts where the last committed one ended; idempotency keys
(`<config>:task<task>:<source id>`) make a repeated step write nothing twice. The records then
go through the normal delivery (lanes keep each key's order); interception and the duplicate
filter do not apply — a batch push is an administrator's explicit correction.

One chain of `run_task` messages runs a task: each message claims the task with a
conditional UPDATE (a fresh runner token and a lease), does one step and sends the next
message with the new token. A stale message (an older token, a paused or cancelled task)
stops. The sweeper (beat, every minute) restarts a task whose lease ran out: a lost message
or a dead worker. Live pushes are not starved: the batch work runs on its own queue, and a
step waits while the config already has MAX_OPEN open batch records.

When the source is exhausted the chain keeps checking every CHECK_SECONDS until every record
of the task is answered: the task then succeeds, or fails when some records failed for good
(retry puts only those back to pending).
"""
import datetime as dt
import logging
import tempfile
import uuid
from dataclasses import dataclass

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integration.bulk import bulk_insert, instance
from integration.models import TodoItem, Workflow
from integration.vocabulary import BusinessStatus, DataSet

from .delivery import enqueue_lanes, lane_of, lanes_of, open_records
from .models import PushAttempt, PushRecord, PushTask
from .models.log import RESTART
from .models.task import ACTIVE, DATA_SETS, TaskMode, TaskStatus
from .vocabulary import Outcome, RecordKind

log = logging.getLogger(__name__)

RUN_TASK = "pushconfig.batch.run_task"
SWEEP_TASK = "pushconfig.batch.sweep_tasks"
PURGE_TASK = "pushconfig.batch.purge_tasks"
QUEUE = "batch"
# Beat task names, in English like the other schedules of the push app.
PURGE_NAME = "Batch push task purge"
SWEEP_NAME = "Batch push task sweeper"

# Initialised and succeeded tasks older than this are purged daily (seed 002).
KEEP_DAYS = 7
# Records of a task leave the task (not the push log) in chunks of this many.
DETACH_CHUNK = 5000
EXPORT_CHUNK = 2000
DONE_OUTCOMES = (Outcome.SUCCESS, Outcome.IGNORED, Outcome.INTERCEPTED)


def _setting(name, default):
    # Tunables, overridable in settings (see the README); defaults suit one console.
    return getattr(settings, name, default)


def chunk_size():
    return _setting("BATCH_CHUNK_SIZE", 1000)


def max_open():
    return _setting("BATCH_MAX_OPEN_RECORDS", 5000)


def throttle_seconds():
    # A throttled task writes at most MAX_OPEN records per wait: at 5 s that capped a task at
    # 1,000 records/s however fast the target; one second keeps the cap far above delivery.
    return _setting("BATCH_THROTTLE_SECONDS", 1)


def check_seconds():
    # How long a finished task may look unfinished; each check is one EXISTS on an index.
    return _setting("BATCH_CHECK_SECONDS", 1)


def lease_seconds():
    return _setting("BATCH_LEASE_SECONDS", 60)


# -- the source ----------------------------------------------------------------------------------
def source_queryset(mode, config_id, filters):
    """What a task of `mode` takes, filtered (a history task reads the push log of config
    `config_id`); every filter is on an indexed column or a small subquery of the catalog."""
    types = filters.get("workflow_type")
    workflows = (Workflow.objects.filter(workflow_type__external_id__in=types)
                 .values("workflow_id")
                 if types else None)
    if mode == TaskMode.REALTIME:
        query = TodoItem.objects.filter(
            data_set__in=filters.get("data_set") or DATA_SETS[TaskMode.REALTIME])
        lookups = {"creator": "request__creator__in", "receiver": "receiver__in",
                   "request_id": "request__request_id__in"}
        workflow_column, time_column = "request__workflow_ref__in", "request__created_at"
    else:
        query = PushRecord.objects.filter(config_id=config_id)
        if filters.get("data_set"):
            query = query.filter(data_set__in=filters["data_set"])
        lookups = {"creator": "creator__in", "receiver": "receiver__in",
                   "request_id": "request_id__in"}
        workflow_column, time_column = "workflow_id__in", "created_at"
    for name, lookup in lookups.items():
        if filters.get(name):
            query = query.filter(**{lookup: filters[name]})
    if workflows is not None:
        query = query.filter(**{workflow_column: workflows})
    if filters.get("created_after"):
        query = query.filter(**{time_column + "__gte": dt.datetime.fromisoformat(
            filters["created_after"])})
    if filters.get("created_before"):
        query = query.filter(**{time_column + "__lt": dt.datetime.fromisoformat(
            filters["created_before"])})
    return query


def count_matches(mode, config_id, filters):
    """The count preview: how many items a task with these filters would push."""
    return source_queryset(mode, config_id, filters).order_by().count()


REALTIME_COLUMNS = ("id", "receiver", "identity", "data_set", "business_status", "node_name",
                    "viewed", "task_id", "created_at", "last_event_at", "last_event_id",
                    "request__request_id", "request__title", "request__workflow_ref",
                    "request__creator", "request__created_at")
HISTORY_COLUMNS = ("id", "inbound_event_id", "event_id", "request_id", "receiver", "identity",
                   "creator", "workflow_id", "data_set", "business_status", "payload")


def _iso(moment):
    return moment.isoformat() if moment is not None else None


def realtime_record(task, row):
    """A todo item's current state as a push record, its payload shaped like the inbox's."""
    occurred = row["last_event_at"]
    request_id, receiver, identity = row["request__request_id"], row["receiver"], row["identity"]
    payload = {
        "event_id": row["last_event_id"], "request_id": request_id,
        "request_title": row["request__title"], "workflow_id": row["request__workflow_ref"],
        "node_name": row["node_name"], "creator": row["request__creator"],
        "receiver": receiver, "identity": identity,
        "created_at": _iso(row["created_at"] or row["request__created_at"] or occurred),
        "occurred_at": _iso(occurred), "viewed": row["viewed"], "task_id": row["task_id"],
        "data_set": row["data_set"], "business_status": row["business_status"],
    }
    return instance(
        PushRecord, config_id=task.config_id, task_id=task.pk, kind=RecordKind.REALTIME,
        event_id=row["last_event_id"] or f"task{task.pk}:{row['id']}",
        idempotency_key=f"{task.config_id}:task{task.pk}:{row['id']}",
        lane=lane_of(request_id, receiver, identity), request_id=request_id, receiver=receiver,
        identity=identity, creator=row["request__creator"],
        workflow_id=row["request__workflow_ref"], data_set=row["data_set"],
        business_status=row["business_status"], payload=payload,
    )


def history_record(task, row):
    """A past push record of the config, pushed again as it was."""
    return instance(
        PushRecord, config_id=task.config_id, task_id=task.pk, kind=RecordKind.HISTORY,
        inbound_event_id=row["inbound_event_id"], event_id=row["event_id"],
        idempotency_key=f"{task.config_id}:task{task.pk}:{row['id']}",
        lane=lane_of(row["request_id"], row["receiver"], row["identity"]),
        request_id=row["request_id"], receiver=row["receiver"], identity=row["identity"],
        creator=row["creator"], workflow_id=row["workflow_id"], data_set=row["data_set"],
        business_status=row["business_status"], payload=row["payload"],
    )


def next_rows(task):
    """The next chunk of the task's source after its cursor: one LIMITed query. A realtime
    chunk locks its todo items (PostgreSQL) so that an inbox call changing one of them either
    commits first (and we read its new state, behind its record) or waits for us (and its
    record follows ours): the target never ends on a stale state."""
    query = source_queryset(task.mode, task.config_id, task.filters).filter(
        id__gt=task.cursor, id__lte=task.source_end).order_by("id")
    if task.mode == TaskMode.REALTIME:
        if connection.features.has_select_for_update_of:
            query = query.select_for_update(of=("self",))
        columns = REALTIME_COLUMNS
    else:
        columns = HISTORY_COLUMNS
    return list(query.values(*columns)[:chunk_size()])


def throttled(config_id):
    """True while the config holds MAX_OPEN or more open records of batch tasks (counted up
    to that bound, never further)."""
    limit = max_open()
    waiting = open_records(config_id).filter(task__isnull=False).order_by().values("id")[:limit]
    return waiting.count() >= limit


# -- creating ------------------------------------------------------------------------------------
def launch(task):
    """Save a new task (mode, config, filters and created_by set) with its total and the end of
    its source, and start it once the transaction commits. An empty match succeeds at once."""
    found = source_queryset(task.mode, task.config_id, task.filters).order_by().aggregate(
        n=Count("id"), end=Max("id"))
    task.total, task.source_end = found["n"], found["end"] or 0
    now = timezone.now()
    if task.total == 0:
        task.status, task.started_at, task.finished_at = TaskStatus.SUCCEEDED, now, now
        task.cursor = task.source_end
    task.save()
    if task.status == TaskStatus.INITIALISED:
        transaction.on_commit(lambda: start(task.pk), robust=True)
    return task


def start(task_id):
    """Send a fresh run_task message. A broker outage only delays: the sweeper restarts it."""
    try:
        run_task.apply_async((task_id,), retry=False)
    except Exception:
        log.warning("could not enqueue batch push task %s; the sweeper will", task_id,
                    exc_info=True)


# -- running -------------------------------------------------------------------------------------
def claim(task_id, runner=None):
    """Take the task for one step: a conditional UPDATE that succeeds for the message holding
    the current runner token, or for any message once the lease ran out. Returns the new
    token, or None (another message runs it, or it is paused, finished or gone)."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    if runner:
        free |= Q(runner=runner)
    token = uuid.uuid4().hex
    claimed = PushTask.objects.filter(pk=task_id, status__in=ACTIVE).filter(free).update(
        status=TaskStatus.RUNNING, runner=token,
        lease_until=now + dt.timedelta(seconds=lease_seconds()),
        started_at=Coalesce(F("started_at"), Value(now)))
    return token if claimed else None


def _hold(task, wait):
    """Keep the lease until the next message is due (and a lease after), so the sweeper
    leaves a waiting chain alone."""
    task.lease_until = timezone.now() + dt.timedelta(seconds=wait + lease_seconds())


def step(task_id, token):
    """One step of a claimed task: write a chunk, or wait (throttled, or records still
    open), or settle it. Returns the countdown of the next message, or None to stop."""
    with transaction.atomic():
        task = (PushTask.objects.select_for_update()
                .filter(pk=task_id, runner=token, status=TaskStatus.RUNNING).first())
        if task is None:
            return None
        if not task.source_exhausted:
            if throttled(task.config_id):
                _hold(task, throttle_seconds())
                task.save(update_fields=["lease_until"])
                return throttle_seconds()
            write_chunk(task)
            if not task.source_exhausted:
                _hold(task, 0)
                task.save(update_fields=["lease_until"])
                return 0
        return settle(task)


def write_chunk(task):
    rows = next_rows(task)
    build = realtime_record if task.mode == TaskMode.REALTIME else history_record
    records = [build(task, row) for row in rows]
    try:
        with transaction.atomic():  # a savepoint, for the rare replayed chunk below
            bulk_insert(PushRecord, records, with_ids=False)  # COPY on PostgreSQL
    except IntegrityError:
        # A chunk replayed (its keys already taken): write only what is missing.
        PushRecord.objects.bulk_create(records, batch_size=500, ignore_conflicts=True)
    task.cursor = rows[-1]["id"] if len(rows) >= chunk_size() else task.source_end
    fields = ["cursor"]
    if task.source_exhausted:
        # Items may have gone since the task was created: the total becomes what was written.
        task.total = task.records.count()
        fields.append("total")
    task.save(update_fields=fields)
    lanes = {(task.config_id, record.lane) for record in records}
    if lanes:
        transaction.on_commit(lambda: enqueue_lanes(lanes), robust=True)
    return len(records)


def open_of(task):
    return open_records(task.config_id).filter(task=task)


def failures_of(task):
    """Records of the task that failed for good: permanently, or out of retries."""
    return PushRecord.objects.filter(task=task, outcome=Outcome.FAILED,
                                     next_attempt_at__isnull=True)


def settle(task):
    """The source is done: wait while records are open, then succeed or fail."""
    if open_of(task).exists():
        _hold(task, check_seconds())
        task.save(update_fields=["lease_until"])
        return check_seconds()
    task.status = TaskStatus.FAILED if failures_of(task).exists() else TaskStatus.SUCCEEDED
    task.finished_at = timezone.now()
    task.runner, task.lease_until = "", None
    task.save(update_fields=["status", "finished_at", "runner", "lease_until"])
    return None


def advance(task_id, runner=None):
    """Claim and run one step. Returns (token, countdown of the next message or None)."""
    token = claim(task_id, runner)
    if token is None:
        return None, None
    return token, step(task_id, token)


@shared_task(name=RUN_TASK, acks_late=True, ignore_result=True)
def run_task(task_id, runner=None):
    token, countdown = advance(task_id, runner)
    if countdown is not None:
        try:
            run_task.apply_async((task_id, token), countdown=countdown, retry=False)
        except Exception:  # the lease runs out and the sweeper restarts the task
            log.warning("could not enqueue the next step of batch push task %s", task_id,
                        exc_info=True)


@shared_task(name=SWEEP_TASK, acks_late=True, ignore_result=True)
def sweep_tasks():
    """Beat, every minute: restart active tasks whose lease ran out (a lost message, a
    broker outage, a worker that died mid-step). Returns how many were restarted."""
    now = timezone.now()
    stale = list(PushTask.objects.filter(status__in=ACTIVE).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)).values_list("pk", flat=True))
    for task_id in stale:
        start(task_id)
    return len(stale)


# -- operations ----------------------------------------------------------------------------------
REFUSALS = {
    "pause": gettext_lazy("Batch push task #%(id)s is %(status)s: only an initialised or running "
                          "task can be paused."),
    "resume": gettext_lazy("Batch push task #%(id)s is %(status)s: only a paused task can be "
                           "resumed."),
    "retry": gettext_lazy("Batch push task #%(id)s is %(status)s: only a failed task can be "
                          "retried."),
    "cancel": gettext_lazy("Batch push task #%(id)s is %(status)s: only an initialised, running "
                           "or paused task can be cancelled."),
    "delete": gettext_lazy("Batch push task #%(id)s is %(status)s: pause or cancel it before "
                           "deleting it."),
}
ALLOWED = {
    "pause": (TaskStatus.INITIALISED, TaskStatus.RUNNING),
    "resume": (TaskStatus.PAUSED,),
    "retry": (TaskStatus.FAILED,),
    "cancel": (TaskStatus.INITIALISED, TaskStatus.RUNNING, TaskStatus.PAUSED),
    "delete": (TaskStatus.INITIALISED, TaskStatus.PAUSED, TaskStatus.SUCCEEDED,
               TaskStatus.FAILED, TaskStatus.CANCELLED),
}


class TransitionRefused(Exception):
    """The task is not in a status the operation starts from; the message names its status."""

    def __init__(self, task, operation):
        self.task, self.operation, self.status = task, operation, task.status
        super().__init__(str(REFUSALS[operation] % {
            "id": task.pk, "status": TaskStatus(task.status).label}))


def _move(task, operation, **changes):
    """A conditional UPDATE from the statuses `operation` starts from; refused otherwise (the
    task is re-read, so the message names the status it really has)."""
    moved = PushTask.objects.filter(pk=task.pk, status__in=ALLOWED[operation]).update(**changes)
    task.refresh_from_db()
    if not moved:
        raise TransitionRefused(task, operation)


def pause(task):
    """Stop at the next step. Records already written are still delivered."""
    _move(task, "pause", status=TaskStatus.PAUSED, runner="", lease_until=None)


def resume(task):
    with transaction.atomic():
        _move(task, "resume", status=TaskStatus.RUNNING, runner="", lease_until=None)
        transaction.on_commit(lambda: start(task.pk), robust=True)


def retry(task):
    """Put the task's failed records (only those) back to pending with one UPDATE, hand their
    lanes to workers and watch them again. Returns how many were re-pushed."""
    with transaction.atomic():
        _move(task, "retry", status=TaskStatus.RUNNING, runner="", lease_until=None,
              finished_at=None)
        failed = failures_of(task)
        lanes = lanes_of(failed)
        count = failed.update(**RESTART)  # as a re-push from the push log
        transaction.on_commit(lambda: (enqueue_lanes(lanes), start(task.pk)), robust=True)
    return count


def withdraw(task):
    """The task's records that were not sent yet are not sent at all (outcome ignored, with
    the reason). Returns how many."""
    return open_of(task).update(
        outcome=Outcome.IGNORED, next_attempt_at=None,
        reason=_("Withdrawn: batch push task #%(id)s was cancelled.") % {"id": task.pk})


def cancel(task):
    """Stop for good; the records not sent yet are withdrawn. Returns how many."""
    with transaction.atomic():
        _move(task, "cancel", status=TaskStatus.CANCELLED, runner="", lease_until=None,
              finished_at=timezone.now())
        return withdraw(task)


def delete(task):
    """Delete a task that is not running. An initialised or paused one is cancelled first
    (nothing more is sent for it). Its records stay in the push log — what was sent to the
    target — without the task, and go with the log's own cleanup."""
    with transaction.atomic():
        stopped = PushTask.objects.filter(
            pk=task.pk, status__in=(TaskStatus.INITIALISED, TaskStatus.PAUSED)).update(
            status=TaskStatus.CANCELLED, runner="", lease_until=None, finished_at=timezone.now())
        task.refresh_from_db()
        if task.status not in ALLOWED["delete"]:
            raise TransitionRefused(task, "delete")
        if stopped:
            withdraw(task)
    detach(task.pk)
    PushTask.objects.filter(pk=task.pk).delete()


def detach(task_id):
    """Unlink a task's records in short UPDATEs instead of one long one."""
    while True:
        ids = list(PushRecord.objects.filter(task_id=task_id).order_by()
                   .values_list("id", flat=True)[:DETACH_CHUNK])
        if not ids:
            return
        PushRecord.objects.filter(id__in=ids).update(task=None)


@shared_task(name=PURGE_TASK, acks_late=True, ignore_result=True)
def purge_tasks():
    """Beat, daily: initialised and succeeded tasks created over KEEP_DAYS days ago are
    deleted (their records stay in the push log). Returns how many."""
    cutoff = timezone.now() - dt.timedelta(days=KEEP_DAYS)
    purged = 0
    for task_id in list(PushTask.objects.filter(
            status__in=(TaskStatus.INITIALISED, TaskStatus.SUCCEEDED),
            created_at__lt=cutoff).values_list("pk", flat=True)):
        detach(task_id)
        purged += PushTask.objects.filter(
            pk=task_id, status__in=(TaskStatus.INITIALISED, TaskStatus.SUCCEEDED)).delete()[
            1].get(PushTask._meta.label, 0)
    return purged


# -- counts and progress -------------------------------------------------------------------------
@dataclass
class Counts:
    written: int = 0
    done: int = 0
    failed: int = 0


def counts(task_ids):
    """{task id: Counts} for a page of tasks, in one grouped query over the records' task
    index. Done is answered (success, ignored); failed is failed for good."""
    found = {pk: Counts() for pk in task_ids}
    rows = (PushRecord.objects.filter(task_id__in=list(found)).order_by().values("task_id")
            .annotate(written=Count("id"), done=Count("id", filter=Q(outcome__in=DONE_OUTCOMES)),
                      failed=Count("id", filter=Q(outcome=Outcome.FAILED,
                                                  next_attempt_at__isnull=True))))
    for row in rows:
        found[row["task_id"]] = Counts(row["written"], row["done"], row["failed"])
    return found


def progress(task, of):
    """What the lists show and the admin polls: status, counts and a percentage."""
    answered = of.done + of.failed
    if task.total:
        percent = min(100, answered * 100 // task.total)
    else:
        percent = 100 if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED) else 0
    return {"id": task.pk, "status": task.status, "status_label": str(task.get_status_display()),
            "total": task.total, "written": of.written, "done": of.done, "failed": of.failed,
            "pending": max(0, of.written - answered), "percent": percent}


# -- failures ------------------------------------------------------------------------------------
def failure_rows(task):
    """The task's failed records with their last HTTP status, oldest first."""
    # The newest attempt by id: a re-push starts the numbers again.
    last_status = PushAttempt.objects.filter(record=OuterRef("pk")).order_by("-id").values(
        "http_status")[:1]
    return failures_of(task).order_by("id").annotate(last_http_status=Subquery(last_status))


EXPORT_COLUMNS = ("id", "request_id", "receiver", "data_set", "business_status", "reason",
                  "last_http_status", "pushed_at", "created_at")


def export_headers():
    return [_("push record"), _("request id"), _("receiver"), _("data set"),
            _("business status"), _("reason"), _("last HTTP status"), _("time")]


def _cell(sheet, value):
    """A text cell kept as text (a reason starting with “=” is not a formula), without the
    control characters a spreadsheet cannot hold."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value=None)
    cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell.data_type = "s"
    return cell


def _label(choices, value):
    return str(choices(value).label) if value in choices.values else value


def export_failures(task):
    """The task's failures as an .xlsx file: written row by row with openpyxl's write-only
    workbook (constant memory) into an anonymous temporary file, read in chunks of
    EXPORT_CHUNK by id. Returns the file, positioned at its start."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Failures")[:31])
    sheet.append([_cell(sheet, str(h)) for h in export_headers()])
    last_id, rows = 0, failure_rows(task)
    while True:
        chunk = list(rows.filter(id__gt=last_id).values_list(*EXPORT_COLUMNS)[:EXPORT_CHUNK])
        if not chunk:
            break
        for (pk, request_id, receiver, data_set, status, reason, http_status, pushed_at,
             created_at) in chunk:
            moment = timezone.localtime(pushed_at or created_at).replace(tzinfo=None)
            sheet.append([pk, *(_cell(sheet, v) for v in (
                request_id, receiver, _label(DataSet, data_set),
                _label(BusinessStatus, status), reason)), http_status, moment])
        last_id = chunk[-1][0]
    output = tempfile.TemporaryFile(suffix=".xlsx")
    workbook.save(output)
    output.seek(0)
    return output


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_filename(task):
    return f"push-task-{task.pk}-failures.xlsx"


# -- beat ----------------------------------------------------------------------------------------
def ensure_schedules(sender, **kwargs):
    """post_migrate: the daily purge and the sweeper as database schedules, visible (and
    pausable) in the admin like the outbox sweeper."""
    from django_celery_beat.models import (
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
    )

    daily, _created = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_month="*", month_of_year="*", day_of_week="*",
        timezone=settings.TIME_ZONE)
    PeriodicTask.objects.get_or_create(name=PURGE_NAME, defaults={
        "task": PURGE_TASK, "crontab": daily, "queue": QUEUE})
    every, _created = IntervalSchedule.objects.get_or_create(every=60,
                                                            period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(name=SWEEP_NAME, defaults={
        "task": SWEEP_TASK, "interval": every, "queue": QUEUE})
