"""The push pipeline's second half, on workers: records leave in order, in batches, over one
reused HTTP session per config and process.

A config's records are spread over lanes by (request, receiver, identity). A worker leases a
lane (a conditional UPDATE, so two workers never hold one), takes the oldest due records —
at most one per key per round, and none of a key whose earlier record still waits for a retry
— writes the batch down as in flight (one row), sends it, and writes the attempts and the
records' outcomes in one transaction that deletes that row. Lanes of one config run in
parallel on several workers; each key's records reach the target in the order they were
accepted. A task may hold several lanes of a config at once (a small ingest call's few
records spread over all lanes): one task and one batch for them instead of one per lane.
"""
import json
import logging
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from integration.bulk import bulk_insert, instance, update_rows
from integration.http import Session

from . import breaker
from .items import build_items
from .models import Breaker, DeliveryLane, InFlightBatch, PushAttempt, PushConfig, PushRecord
from .models.log import OPEN
from .transports.base import NOT_SENT
from .vocabulary import Outcome

log = logging.getLogger(__name__)
_sessions: dict[int, tuple] = {}


def lane_of(request_id, receiver, identity):
    key = f"{request_id}\x1f{receiver}\x1f{identity}".encode()
    return zlib.crc32(key) % settings.PUSH_LANES


# A lane with at least a batch of new records gets a task of its own; a config's other lanes
# are shared out over SMALL_GROUPS tasks, each always the same lanes (lane % SMALL_GROUPS), so
# that two such tasks contend for the same lanes or for none, and more than one worker process
# can deliver while small calls keep coming.
GROUP_RECORDS = 100
SMALL_GROUPS = 2


def enqueue_lanes(pairs):
    """Hand lanes to workers. A broker outage only delays: the sweeper finds the records.

    `pairs` is a set of (config id, lane), or a mapping of them to how many records each got:
    then a config's lanes with little work go to a few tasks together (a call of 10 events
    would otherwise send up to 8 tasks, each paying a lease, queries and a batch for one
    record), and lanes with a batch's worth each get their own task, to run in parallel."""
    from .tasks import deliver_lane

    for config_id, lanes in _groups(pairs):
        try:
            deliver_lane.apply_async((config_id, lanes), retry=False)
        except Exception:  # the records are safe in the database; the sweeper re-enqueues
            log.warning("broker unavailable: %d lane(s) left to the sweeper", len(pairs),
                        exc_info=True)
            return  # one failure says the broker is down: don't wait on it for every lane


def lanes_of(records):
    """The (config id, lane) pairs of a queryset of records, one row per pair from the
    database: without clearing the log's default ordering, Django adds `id` to the DISTINCT
    and the database sends a row per record (a sweep read the whole backlog)."""
    return set(records.order_by().values_list("config_id", "lane").distinct())


def _groups(pairs):
    """(config id, lane or list of lanes) for each task to send."""
    if not isinstance(pairs, Mapping):
        return sorted(pairs)
    groups = {}
    for (config_id, lane), count in pairs.items():
        key = (config_id, lane if count >= GROUP_RECORDS else -1 - lane % SMALL_GROUPS)
        groups.setdefault(key, []).append(lane)
    return [(config_id, lanes[0] if len(lanes) == 1 else sorted(lanes))
            for (config_id, _group), lanes in sorted(groups.items(), key=_first_lane)]


def _first_lane(item):
    (config_id, _group), lanes = item
    return config_id, min(lanes)


def open_records(config_id, lane=None):
    """Records that still need a call: pending ones, and transient failures with a retry due.
    `lane` is one lane or a list of lanes."""
    query = PushRecord.objects.filter(OPEN, config_id=config_id)
    if lane is None:
        return query
    if isinstance(lane, list | tuple):
        return query.filter(lane__in=lane)
    return query.filter(lane=lane)


def session_for(config):
    """One HTTP session (keep-alive pool) per config and process, renewed when it is edited."""
    cached = _sessions.get(config.pk)
    if cached and cached[0] == config.updated_at:
        return cached[1]
    if cached:
        cached[1].close()
    session = Session()
    session.headers["User-Agent"] = "oa-integration-console/1"
    _sessions[config.pk] = (config.updated_at, session)
    return session


def close_sessions():
    """Close every cached HTTP session (tests, and a worker shutting down cleanly)."""
    while _sessions:
        _updated, session = _sessions.popitem()[1]
        session.close()


def transport_for(config):
    cls = config.transport_class
    return cls(config, config.get_params(), session_for(config))


def _queue(config_id, lane):
    """A lane's open records, oldest first.

    On PostgreSQL, for one lane, ordered by (config, lane, id) — the open-queue index's own
    order — with the config matched as `= ANY(array)`: with plain equalities both are
    constants, the order is just `id`, and the planner may walk the primary key instead,
    filtering every finished record of every lane, whenever the table's statistics are older
    than the backlog (a just-ingested burst, a catch-up after an outage): tens of
    milliseconds per batch instead of one."""
    if connection.vendor != "postgresql" or isinstance(lane, list | tuple):
        return open_records(config_id, lane).order_by("id")
    return PushRecord.objects.filter(OPEN, config_id__any_of=[config_id], lane=lane
                                     ).order_by("config_id", "lane", "id")


# A batch reads the queue at most this many times (each at most a batch's worth) for keys
# to take: a key repeated in the queue sends one record per batch, its next ones later.
WINDOW = 4


def next_batch(config_id, lane, size, after=0):
    """The oldest due records of a lane (or lanes), at most one per key, and none of a key
    that still has an earlier open record anywhere — waiting for a retry, or in another lane
    after the lane count changed — so each key's records reach the target in order.

    Returns (records, resume): no due record at or below `resume` was left behind, so the
    same task's next call looks above it. Without that bound every call scanned again past
    the records the task had finished, whose index entries stay until vacuum: on a backlog
    each batch got slower and the drain grew as N² (worse when the table's statistics still
    say "all pending": PostgreSQL then walks the primary key there, row by row). A retry
    that comes due below the bound waits for the lane's next task (the sweeper's)."""
    now = timezone.now()
    due = _queue(config_id, lane).filter(Q(next_attempt_at__isnull=True)
                                         | Q(next_attempt_at__lte=now))
    # The records are read whole, a batch's worth at a time, and only read again when keys
    # repeat: with keys that do not (the common case) one query is the batch. (Reading a
    # window of ids and keys four batches long and then the batch by primary key cost a
    # second query and three quarters of a window left behind, every batch.)
    taken, seen, left, last = [], set(), None, after
    for _round in range(WINDOW):
        wanted = size - len(taken)
        window = list(due.filter(id__gt=last)[:wanted])
        if not window:
            break
        last = window[-1].pk
        # One record per key (a repeat waits for a later batch)...
        candidates = []
        for record in window:
            if record.key in seen:
                left = left or record.pk
            else:
                seen.add(record.key)
                candidates.append(record)
        # ...unless the key has an earlier open record outside the window: waiting for a
        # retry, in another lane after the lane count changed, or re-pushed below `after`.
        blocked = blocked_by_earlier(config_id, candidates)
        for record in candidates:
            if record.pk in blocked:
                left = min(left or record.pk, record.pk)
            else:
                taken.append(record)
        if len(taken) == size or len(window) < wanted:
            break  # a full batch, or the lane has no more due records
    return taken, (left - 1 if left else last)


def blocked_by_earlier(config_id, records):
    """The ids of those of `records` whose key has an open record of a lower id.

    On PostgreSQL one statement probes the open-request index (config, request, receiver,
    identity, id) once per record, below that record's own id: with nothing earlier open —
    the common case — it touches no row of the table. By request alone it read the open
    records of each request's other receivers too (in other lanes), a row each: a quarter of
    PostgreSQL's time per delivery. Elsewhere, the open records of those requests, read
    once and compared here."""
    if not records:
        return set()
    if connection.vendor != "postgresql":
        first_open = {}
        for pk, *key in open_records(config_id).filter(
                request_id__any_of={record.request_id for record in records},
                id__lt=records[-1].pk,
        ).order_by().values_list("id", "request_id", "receiver", "identity"):
            key = tuple(key)
            first_open[key] = min(pk, first_open.get(key, pk))
        return {record.pk for record in records
                if first_open.get(record.key, record.pk) < record.pk}
    earlier = open_records(config_id).filter(
        request_id=RawSQL("v.request_id", ()), receiver=RawSQL("v.receiver", ()),
        identity=RawSQL("v.identity", ()), id__lt=RawSQL("v.id", ())).order_by().values("id")
    # LATERAL … LIMIT 1, not EXISTS: a probe per key whatever the statistics say. Planned
    # as a semi-join, a just-ingested burst (the index "empty" to the planner) was hashed
    # whole, every open record of the config, for every batch.
    sql, params = earlier[:1].query.sql_with_params()
    keys = json.dumps([{"id": r.pk, "request_id": r.request_id, "receiver": r.receiver,
                        "identity": r.identity} for r in records], ensure_ascii=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT v.id FROM jsonb_to_recordset(%s) AS v(id bigint, request_id "
                       f"text, receiver text, identity text) CROSS JOIN LATERAL ({sql}) AS e",
                       [keys, *params])
        return {pk for (pk,) in cursor.fetchall()}


def lease():
    return timedelta(seconds=settings.PUSH_LANE_LEASE_SECONDS)


def _lease(config_id, lanes, holder):
    """Lease those of `lanes` no other worker holds (one conditional UPDATE); returns them."""
    known = set(DeliveryLane.objects.filter(config_id=config_id, lane__in=lanes)
                .values_list("lane", flat=True))
    if len(known) < len(lanes):
        DeliveryLane.objects.bulk_create(
            [DeliveryLane(config_id=config_id, lane=lane) for lane in lanes if lane not in known],
            ignore_conflicts=True)
    now = timezone.now()
    taken = DeliveryLane.objects.filter(config_id=config_id, lane__in=lanes).filter(
        Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    ).update(leased_until=now + lease(), holder=holder)
    if taken == len(lanes) or not taken:
        return list(lanes) if taken else []
    return sorted(DeliveryLane.objects.filter(config_id=config_id, lane__in=lanes, holder=holder)
                  .values_list("lane", flat=True))


def _release(config_id, lanes, holder):
    DeliveryLane.objects.filter(config_id=config_id, lane__in=lanes, holder=holder).update(
        leased_until=None, holder="")


@dataclass
class LaneRun:
    sent: int = 0
    more: bool = False  # due work is left that this worker could not finish in its time


def run_lane(config_id, lane, budget_seconds=30.0):
    """Deliver what is due on one lane, or on a list of lanes of the config taken together
    (their records in one batch; each key lives in one lane, so its order holds). Returns
    None when other workers hold every one of them (they will find what we were asked to
    send), else a LaneRun for the lanes it could lease."""
    holder = uuid.uuid4().hex
    lanes = _lease(config_id, sorted(set(lane)) if isinstance(lane, list | tuple) else [lane],
                   holder)
    if not lanes:
        return None
    lane = lanes[0] if len(lanes) == 1 else lanes
    run = LaneRun()
    deadline = timezone.now() + timedelta(seconds=budget_seconds)
    heartbeat = _Heartbeat(config_id, lanes, holder)
    after = 0
    try:
        config = PushConfig.objects.filter(pk=config_id, enabled=True).first()
        if config is None:
            return run  # disabled: records wait, nothing is lost
        try:
            transport = transport_for(config)
        except Exception:  # a config that cannot work (unregistered type, lost key): say it
            log.exception("push config %s cannot deliver; its records wait", config_id)
            return run
        while True:
            if timezone.now() >= deadline:
                run.more = True
                break
            admitted = breaker.admit(config)
            if admitted == breaker.WAIT:
                break  # fused: the records wait as they are; a probe will come
            probing = admitted == breaker.PROBE
            batch, after = next_batch(config_id, lane, 1 if probing else transport.batch_size,
                                      after)
            if not batch:
                if probing:
                    breaker.give_back_probe(config)
                break
            results = send_batch(config, transport, batch, heartbeat, lanes)
            breaker.record(config, results, probing)
            untried = [r.pk for r, result in zip(batch, results, strict=True)
                       if result.error_class == NOT_SENT]
            if untried:  # the batch stopped early: what it did not try is open again
                after = min(after, untried[0] - 1)
            run.sent += len(results) - len(untried)
            if not heartbeat.held:
                break  # our lease was taken over: the new holder goes on
    finally:
        _release(config_id, lanes, holder)
    # Work that arrived while we held the lane found it busy: pick it up now.
    # From the start of the lane: a record re-pushed meanwhile may sit below the bound.
    run.more = run.more or (run.sent > 0 and bool(next_batch(config_id, lane, 1)[0]))
    return run


class _Heartbeat:
    """Renews the lanes' lease between items when a third of it has passed; tells the
    transport to stop if a lease was lost (another worker then owns that lane)."""

    def __init__(self, config_id, lanes, holder):
        self.config_id, self.lanes, self.holder = config_id, lanes, holder
        self.held = True
        self._next()

    def _next(self):
        # A monotonic clock: asked before every item, where an aware now() and the lease's
        # timedelta from the settings cost more than the check itself.
        self.renew_at = time.monotonic() + lease().total_seconds() / 3

    def __call__(self):
        if self.held and time.monotonic() > self.renew_at:
            self.held = DeliveryLane.objects.filter(
                config_id=self.config_id, lane__in=self.lanes, holder=self.holder,
            ).update(leased_until=timezone.now() + lease()) == len(self.lanes)
            self._next()
        return self.held


def send_batch(config, transport, records, keep_going, lanes):
    """Send a batch of open records (in id order) of `lanes`; returns their Deliveries."""
    now = timezone.now()
    items, refused = build_items(config, records)
    # The trace a crash leaves is the in-flight row, written before the first call; the
    # attempts are written once, with their answers. The record counts the try when the
    # answer is written (one UPDATE of the record per try: each writes a new version into
    # all of its indexes), or the sweeper counts it when it closes what a crash left.
    for record in records:
        record.attempts += 1
    flight = InFlightBatch.objects.create(
        config=config, lanes=list(lanes), tries=[[r.pk, r.attempts] for r in records],
        first_record=records[0].pk, last_record=records[-1].pk, started_at=now)

    results = dict(refused)
    sendable = [item for item in items if item.record_id not in results]
    try:
        for item, result in zip(sendable, transport.send(sendable, keep_going), strict=True):
            results[item.record_id] = result
    except Exception as exc:  # a bug in a transport must not lose the batch: retry later
        log.exception("push type %s failed on a batch", config.push_type)
        from .transports import Delivery

        for item in sendable:
            results.setdefault(item.record_id, Delivery(
                False, _("Internal error: %(error)s") % {"error": exc}, error_class=type(exc).__name__))
    finish(records, results, now, flight)
    return [results[record.pk] for record in records]


def finish(records, results, started_at, flight):
    """Write the batch's answers: an attempt per record tried, the records' outcomes, and
    the in-flight row gone, in one transaction."""
    now = timezone.now()
    max_attempts = settings.PUSH_MAX_ATTEMPTS
    tried, attempts = [], []
    for record in records:
        result = results[record.pk]
        if result.error_class == NOT_SENT:  # the batch stopped before it: as if never taken
            record.attempts -= 1
            continue
        tried.append(record)
        record.pushed_at = now
        if result.ok:
            record.outcome = Outcome.SUCCESS
            record.reason, record.permanent, record.next_attempt_at = "", False, None
        else:
            record.outcome = Outcome.FAILED
            record.reason = result.reason
            record.permanent = result.permanent
            if result.permanent or record.attempts >= max_attempts:
                record.next_attempt_at = None
                if not result.permanent:
                    record.reason += " " + _("(gave up after %(n)d attempts)") % {
                        "n": record.attempts}
            else:
                record.next_attempt_at = now + timedelta(seconds=max(
                    backoff_seconds(record.attempts), result.retry_after or 0))
        attempts.append(instance(
            PushAttempt, record_id=record.pk, number=record.attempts, started_at=started_at,
            finished_at=now, outcome=record.outcome, http_status=result.http_status,
            duration_ms=result.duration_ms, error_class=result.error_class[:100],
            request=result.request, response=result.response))
    with transaction.atomic():
        # The records first: their rows are then locked until the commit, and a record
        # deleted while its call was out (the admin, a cleanup) gets no attempt.
        kept = update_rows(PushRecord, tried, ["attempts", "outcome", "reason", "permanent",
                                                "next_attempt_at", "pushed_at"], returning=True)
        bulk_insert(PushAttempt, [a for a in attempts if a.record_id in kept], with_ids=False)
        InFlightBatch.objects.filter(pk=flight.pk).delete()


def backoff_seconds(attempts):
    """30 s, 1 min, 2 min … (PUSH_RETRY_BASE_SECONDS doubling) capped at 30 min, the seed's
    longest compensation wait."""
    return min(settings.PUSH_RETRY_BASE_SECONDS * 2 ** (attempts - 1), 1800)


def sweep():
    """Re-enqueue lanes with due work that no worker holds: after a broker outage, a worker
    crash, or a retry coming due. Also closes what a crash left in flight."""
    now = timezone.now()
    close_interrupted(now)
    fused = Breaker.objects.exclude(state=Breaker.State.CLOSED).filter(probe_at__gt=now)
    due = lanes_of(PushRecord.objects.filter(config__enabled=True).exclude(
        config_id__in=fused.values("config_id")).filter(
        Q(outcome=Outcome.PENDING)
        | Q(outcome=Outcome.FAILED, permanent=False, next_attempt_at__lte=now)))
    busy = set(DeliveryLane.objects.filter(leased_until__gt=now).values_list("config_id", "lane"))
    pairs = due - busy
    enqueue_lanes(pairs)
    return len(pairs)


def close_interrupted(now):
    """Close what a crash left in flight — batches older than a lease, on lanes no worker
    holds (a batch to a slow target can outlast a lease; its worker renews the lanes') —
    with an `Interrupted` attempt for each try, counted as a try of its record, which
    learns of a try only from its answer.

    A worker that took the record again before this ran numbered its try as the one that
    was cut short; the count is still right (this adds the lost one). A re-push in between
    spends one try of its fresh budget on the crash. A worker that was not dead but stuck
    in one call for longer than its lease writes its answers when the call returns: that try
    then shows twice, as `Interrupted` and as answered."""
    busy = set(DeliveryLane.objects.filter(leased_until__gt=now).values_list("config_id", "lane"))
    with transaction.atomic():
        stale = [flight for flight in InFlightBatch.objects.select_for_update(skip_locked=True)
                 .filter(started_at__lt=now - lease())
                 if not any((flight.config_id, lane) in busy for lane in flight.lanes)]
        if not stale:
            return
        tries = [(record_id, number, flight.started_at)
                 for flight in stale for record_id, number in flight.tries]
        kept = set(PushRecord.objects.filter(pk__in={t[0] for t in tries})
                   .values_list("pk", flat=True))  # a record deleted since has no log
        tries = [t for t in tries if t[0] in kept]
        bulk_insert(PushAttempt, [
            PushAttempt(record_id=record_id, number=number, started_at=started,
                        finished_at=now, outcome=Outcome.FAILED, error_class="Interrupted")
            for record_id, number, started in tries], with_ids=False)
        InFlightBatch.objects.filter(pk__in=[flight.pk for flight in stale]).delete()
        lost = Counter(record_id for record_id, _number, _started in tries)
        by_count = {}  # one UPDATE per count (almost always just 1), not one per record
        for record_id, count in lost.items():
            by_count.setdefault(count, []).append(record_id)
        for count, record_ids in by_count.items():
            PushRecord.objects.filter(pk__in=record_ids).update(attempts=F("attempts") + count)
