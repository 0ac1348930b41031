"""The push log: one record per (event, config) with its outcome, one attempt per try.

A record is written in the inbox transaction (the outbox). A batch leaving a worker is first
written down as one InFlightBatch row; its attempts are written with the answers, in the
transaction that records the outcomes and deletes that row. So a crash mid-call leaves a
trace, which the sweeper turns into `Interrupted` attempts before the records are retried.
"""
from django.db import connection, models, transaction
from django.utils.translation import gettext_lazy as _

from integration.bulk import LoadedInBulk
from integration.vocabulary import BusinessStatus, DataSet

from ..vocabulary import Outcome, RecordKind

# A record that still needs a call: pending, or a transient failure with a retry scheduled.
# The delivery queue, its partial index and compensation all read it from here.
OPEN = (models.Q(outcome=Outcome.PENDING)
        | models.Q(outcome=Outcome.FAILED, permanent=False, next_attempt_at__isnull=False))

# A re-push by hand (push log, batch task retry): back to pending with a fresh retry budget,
# since the administrator fixed something and asks for a new start.
RESTART = {"outcome": Outcome.PENDING, "permanent": False, "next_attempt_at": None, "reason": "",
           "attempts": 0, "compensations": 0}


class PushRecord(LoadedInBulk, models.Model):
    # No index of its own: push_config_outcome and the open-record indexes start with config
    # and serve its lookups; another index only slows every insert.
    config = models.ForeignKey("pushconfig.PushConfig", verbose_name=_("push config"),
                               on_delete=models.CASCADE, related_name="records", db_index=False)
    inbound_event = models.ForeignKey("integration.InboundEvent", verbose_name=_("event"), null=True,
                              blank=True, on_delete=models.SET_NULL, related_name="push_records")
    event_id = models.CharField(_("event id"), max_length=128)
    kind = models.CharField(_("kind"), max_length=8, choices=RecordKind.choices,
                            default=RecordKind.EVENT)
    # Sent to the target so it can drop repeats: stable for (config, event, kind).
    idempotency_key = models.CharField(_("idempotency key"), max_length=220)
    lane = models.PositiveSmallIntegerField(_("lane"))
    request_id = models.CharField(_("request id"), max_length=64)
    receiver = models.CharField(_("receiver"), max_length=64)
    identity = models.CharField(_("part-time identity"), max_length=64, blank=True, default="")
    creator = models.CharField(_("creator"), max_length=64, blank=True)
    workflow_id = models.CharField(_("workflow id"), max_length=64, blank=True)
    data_set = models.CharField(_("data set"), max_length=8, choices=DataSet.choices)
    business_status = models.CharField(_("business status"), max_length=16,
                                       choices=BusinessStatus.choices)
    payload = models.JSONField(_("data"))
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices,
                               default=Outcome.PENDING)
    reason = models.TextField(_("reason"), blank=True)
    permanent = models.BooleanField(_("permanent failure"), default=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    # Re-pushes made by scheduled compensation, bounded by the config's re-push count.
    compensations = models.PositiveSmallIntegerField(_("compensations"), default=0)
    # The batch push task that wrote the record (realtime / history kinds); the record stays in
    # the log when the task is deleted or purged. Indexed in Meta, for task records only.
    task = models.ForeignKey("pushconfig.PushTask", verbose_name=_("batch push task"), null=True,
                             blank=True, on_delete=models.SET_NULL, related_name="records",
                             db_index=False)
    created_at = models.DateTimeField(_("triggered at"), auto_now_add=True, db_index=True)
    pushed_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("push record")
        verbose_name_plural = _("push log")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["config", "outcome", "id"], name="push_config_outcome"),
            # The delivery queue: only records that still need a call, however big the log.
            # Every lookup by lane is one of open records (a batch, the lanes a sweep or a
            # breaker's recovery hands out), so no index of all records by lane: each one
            # costs every ingest an entry and every delivered record another.
            models.Index(fields=["config", "lane", "id"], name="push_open_queue", condition=OPEN),
            # A batch's check for earlier open records of its keys, in any lane, and
            # compensation's: by key among open records only. By the queue it walked every
            # open record of every lane below the batch (thousands in a backlog), by request
            # every record of those requests, sent or not — and by request among open ones
            # still a row of each of the request's other receivers; a delivered record
            # leaves both partial indexes.
            models.Index(fields=["config", "request_id", "receiver", "identity", "id"],
                         name="push_open_request", condition=OPEN),
            # Exact-match lookups (admin search, API filters, the pipeline's repeats); declared
            # here rather than with db_index=True so PostgreSQL gets no varchar_pattern_ops
            # "_like" twin: nothing in the console queries these columns with LIKE.
            models.Index(fields=["event_id"], name="push_event_id"),
            models.Index(fields=["request_id"], name="push_request_id"),
            models.Index(fields=["receiver"], name="push_receiver"),
            models.Index(fields=["workflow_id"], name="push_workflow_id"),
            # Every lookup by task names a task (or asks for one), and most records have none:
            # no entry for them, at their insert or at each delivered try's new row version.
            models.Index(fields=["task"], name="push_task", condition=models.Q(task__isnull=False)),
        ]
        constraints = [
            # Unique in Meta for the same reason (unique=True adds a "_like" index too).
            models.UniqueConstraint(fields=["idempotency_key"], name="push_idempotency_key"),
        ]

    def __str__(self):
        return f"{self.config_id}:{self.event_id} [{self.outcome}]"

    @property
    def key(self):
        return (self.request_id, self.receiver, self.identity)

    def in_flight_try(self):
        """The try of the batch sending this record right now (or left by a crash until the
        sweeper closes it): {"started_at", "number"}, or None. Its attempt is written only
        with its answer."""
        batches = covering(self.config_id, self.pk).order_by("started_at")
        for started_at, tries in batches.values_list("started_at", "tries"):
            for record_id, number in tries:
                if record_id == self.pk:
                    return {"started_at": started_at, "number": number}
        return None


def delete_in_chunks(queryset, chunk=2000):
    """Delete a huge set of records without loading it or holding locks for long: one short
    transaction per chunk of ids (attempts go with their records)."""
    deleted = 0
    while True:
        with transaction.atomic():
            gone = sum(row[1] for row in delete_chunk(queryset.order_by("id")[:chunk]))
        deleted += gone
        if gone < chunk:
            return deleted


def delete_chunk(rows):
    """Delete the records a sliced, id-ordered queryset selects, their attempts first, and say
    what went: (outcome, count, oldest created_at, newest created_at, last id) per outcome.

    On PostgreSQL one statement (`WITH chunk AS (<rows>), … DELETE … RETURNING`): Django's
    collector spent twice the database's time in Python (model instances, 100-id DELETEs, a
    parameter per id). Elsewhere Django's delete of those ids."""
    if connection.vendor != "postgresql":
        found = list(rows.values_list("id", "outcome", "created_at"))
        PushRecord.objects.filter(id__in=[pk for pk, _o, _c in found]).only("id").delete()
        return [(outcome, 1, created, created, pk) for pk, outcome, created in found]
    select, params = rows.values("id").query.sql_with_params()
    record, attempt = PushRecord._meta.db_table, PushAttempt._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"""
            WITH chunk AS ({select}),
            attempts AS (DELETE FROM {attempt} a USING chunk WHERE a.record_id = chunk.id),
            gone AS (DELETE FROM {record} r USING chunk WHERE r.id = chunk.id
                     RETURNING r.id, r.outcome, r.created_at)
            SELECT outcome, count(*), min(created_at), max(created_at), max(id)
            FROM gone GROUP BY outcome""", params)
        return cursor.fetchall()


class PushAttempt(models.Model):
    record = models.ForeignKey(PushRecord, verbose_name=_("push record"), on_delete=models.CASCADE,
                               related_name="attempt_log")
    number = models.PositiveSmallIntegerField(_("number"))
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices,
                               default=Outcome.PENDING)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    error_class = models.CharField(_("error class"), max_length=100, blank=True)
    request = models.JSONField(_("request sent"), default=dict, blank=True)
    response = models.TextField(_("answer received"), blank=True)

    class Meta:
        verbose_name = _("push attempt")
        verbose_name_plural = _("push attempts")
        ordering = ["record", "number"]


class InFlightBatch(models.Model):
    """A batch a worker is sending, written before its first call and deleted in the
    transaction that writes its attempts and outcomes: one row a batch, where an attempt row
    written before each call and updated after it cost the database four times as much.

    A row older than a lease on lanes no worker holds is what a crash left: the sweeper
    (delivery.close_interrupted) writes an `Interrupted` attempt for each of its tries.
    Cleanup and compensation leave records of a batch in flight alone (`in_flight`)."""

    config = models.ForeignKey("pushconfig.PushConfig", on_delete=models.CASCADE,
                               related_name="+")
    lanes = models.JSONField(default=list)
    tries = models.JSONField(default=list)  # [[record id, try number], …] in id order
    first_record = models.BigIntegerField()
    last_record = models.BigIntegerField()
    started_at = models.DateTimeField()


def covering(config_id, record_id):
    """The batches in flight whose id range holds the record (values or OuterRefs)."""
    return InFlightBatch.objects.filter(config_id=config_id, first_record__lte=record_id,
                                        last_record__gte=record_id)


def in_flight(since):
    """Records of a batch in flight started after `since`, for a subquery on PushRecord: by
    id range, so it may hold back a few more records of the config than the batch has, never
    fewer; cleanup and compensation then take those on their next run."""
    return covering(models.OuterRef("config_id"), models.OuterRef("pk")).filter(
        started_at__gte=since)


class DeliveryLane(models.Model):
    """A config's records are spread over lanes by (request, receiver, identity); one worker at
    a time holds a lane, so each key's records leave in order while lanes run in parallel."""

    config = models.ForeignKey("pushconfig.PushConfig", on_delete=models.CASCADE,
                               related_name="lanes")
    lane = models.PositiveSmallIntegerField()
    leased_until = models.DateTimeField(null=True, blank=True)
    holder = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["config", "lane"], name="lane_unique")]
