"""The push pipeline's second half, on workers: records leave in order, in batches, over one
reused HTTP session per config and process.

A config's records are spread over lanes by (request, receiver, identity). A worker leases a
lane (a conditional UPDATE, so two workers never hold one), takes the oldest due records —
at most one per key per round, and none of a key whose earlier record still waits for a retry
— writes an attempt row for each before the call, sends them, and completes attempts and
records with bulk updates. Lanes of one config run in parallel on several workers; each key's
records reach the target in the order they were accepted. A task may hold several lanes of a
config at once (a small ingest call's few records spread over all lanes): one task and one
batch for them instead of one per lane.
"""
import logging
import uuid
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Lookup, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from integration.http import Session
from integration.bulk import bulk_insert, update_rows

from . import breaker
from .items import build_items
from .models import Breaker, DeliveryLane, PushAttempt, PushConfig, PushRecord
from .models.log import OPEN, is_open
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


class _AnyOf(Lookup):
    """`column = ANY(array)`: PostgreSQL does not fold it to a constant, as it does `= 1`."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*params, list(self.rhs)]


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
    return PushRecord.objects.filter(OPEN, _AnyOf(F("config_id"), [config_id]), lane=lane
                                     ).order_by("config_id", "lane", "id")


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
    # The window is read as ids and keys only: it is 4 batches long, and building whole
    # records (payloads decoded) for the three quarters left behind was wasted work.
    window = [(pk, (request_id, receiver, identity)) for pk, request_id, receiver, identity
              in _queue(config_id, lane).filter(
                  Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), id__gt=after)
              .values_list("id", "request_id", "receiver", "identity")[: size * 4]]
    if not window:
        return [], after
    taken, seen, left, i = [], set(), None, 0
    while i < len(window) and len(taken) < size:
        # The next keys of the window, one record each (a repeat waits for a later batch)...
        candidates = []  # a full batch's worth each time: held keys are rare
        while i < len(window) and len(candidates) < size:
            pk, key = window[i]
            i += 1
            if key in seen:
                left = left or pk
            else:
                seen.add(key)
                candidates.append((pk, key))
        if not candidates:
            break
        # ...unless the key has an earlier open record outside the window: waiting for a
        # retry, in another lane after the lane count changed, or re-pushed below `after`.
        # Read by request alone (with `receiver IN` too, PostgreSQL ANDed a bitmap of every
        # record of 400 receivers each batch) and only up to the last candidate (up to the
        # window's end it read four times the rows, for keys the batch does not take).
        keys, first_open = {key for _pk, key in candidates}, {}
        for pk, *key in open_records(config_id).filter(
                request_id__in={key[0] for key in keys}, id__lt=candidates[-1][0]
        ).values_list("id", "request_id", "receiver", "identity"):
            key = tuple(key)
            if key in keys and pk < first_open.get(key, pk + 1):
                first_open[key] = pk
        for pk, key in candidates:
            if first_open.get(key, pk) < pk or len(taken) >= size:
                left = min(left or pk, pk)
            else:
                taken.append(pk)
    if i < len(window):
        left = left or window[i][0]
    resume = left - 1 if left else window[-1][0]
    # By primary key only, then still open (the lane's lease keeps other workers away, not
    # the admin or cleanup) checked here: with the open-queue condition in the query, stale
    # statistics (a burst after an ANALYZE of a small table) made PostgreSQL walk the whole
    # open queue of the config for 100 ids: 10 ms a batch instead of 1.
    return [record for record in PushRecord.objects.filter(id__in=taken).order_by("id")
            if is_open(record)], resume


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
            results = send_batch(config, transport, batch, heartbeat)
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
        self.renewed = timezone.now()
        self.held = True

    def __call__(self):
        now = timezone.now()
        if self.held and now - self.renewed > lease() / 3:
            self.held = DeliveryLane.objects.filter(
                config_id=self.config_id, lane__in=self.lanes, holder=self.holder,
            ).update(leased_until=now + lease()) == len(self.lanes)
            self.renewed = now
        return self.held


def send_batch(config, transport, records, keep_going=None):
    now = timezone.now()
    items, refused = build_items(config, records)
    # The attempt row written before the call is the trace a crash leaves; the record counts
    # the try when the answer is written (one UPDATE of the record per try, not two: each
    # writes a new version into all of its 12 indexes), or the sweeper counts it when it
    # closes an attempt a crash left open.
    for record in records:
        record.attempts += 1
    attempts = [PushAttempt(record=r, number=r.attempts, started_at=now) for r in records]
    bulk_insert(PushAttempt, attempts)  # COPY, ids from the sequence: needed to finish them

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
    finish(records, attempts, results)
    return [results[record.pk] for record in records]


def finish(records, attempts, results):
    now = timezone.now()
    max_attempts = settings.PUSH_MAX_ATTEMPTS
    untried = []
    for record, attempt in zip(records, attempts, strict=True):
        result = results[record.pk]
        if result.error_class == NOT_SENT:
            untried.append((record, attempt))
            record.attempts -= 1
            continue
        attempt.finished_at = now
        attempt.http_status = result.http_status
        attempt.duration_ms = result.duration_ms
        attempt.error_class = result.error_class[:100]
        attempt.request = result.request
        attempt.response = result.response
        record.pushed_at = now
        if result.ok:
            attempt.outcome = record.outcome = Outcome.SUCCESS
            record.reason, record.permanent, record.next_attempt_at = "", False, None
            continue
        attempt.outcome = record.outcome = Outcome.FAILED
        record.reason = result.reason
        record.permanent = result.permanent
        if result.permanent or record.attempts >= max_attempts:
            record.next_attempt_at = None
            if not result.permanent:
                record.reason += " " + _("(gave up after %(n)d attempts)") % {"n": record.attempts}
        else:
            record.next_attempt_at = now + timedelta(seconds=max(
                backoff_seconds(record.attempts), result.retry_after or 0))
    if untried:  # the batch stopped before them: as if they had never been taken
        PushAttempt.objects.filter(pk__in=[a.pk for _r, a in untried]).delete()
        skip = {r.pk for r, _a in untried}
        records = [r for r in records if r.pk not in skip]
        attempts = [a for a in attempts if a.record_id not in skip]
    update_rows(PushAttempt, attempts, ["finished_at", "outcome", "http_status", "duration_ms",
                                        "error_class", "request", "response"])
    update_rows(PushRecord, records, ["attempts", "outcome", "reason", "permanent",
                                      "next_attempt_at", "pushed_at"])


def backoff_seconds(attempts):
    """30 s, 1 min, 2 min … (PUSH_RETRY_BASE_SECONDS doubling) capped at 30 min, the seed's
    longest compensation wait."""
    return min(settings.PUSH_RETRY_BASE_SECONDS * 2 ** (attempts - 1), 1800)


def sweep():
    """Re-enqueue lanes with due work that no worker holds: after a broker outage, a worker
    crash, or a retry coming due. Also closes attempts a crash left open."""
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
    """Close, as failed, the attempts a crash left open — older than a lease, on a lane no
    worker holds (a batch to a slow target can outlast a lease; its worker renews the lane's)
    — and count each as a try of its record, which learns of a try only from its answer.

    A worker that took the record again before this ran numbered its try as the one that
    was cut short; the count is still right (this adds the lost one). A re-push in between
    spends one try of its fresh budget on the crash."""
    busy = set(DeliveryLane.objects.filter(leased_until__gt=now).values_list("config_id", "lane"))
    with transaction.atomic():
        stale = [(pk, record_id) for pk, record_id, config_id, lane in
                 PushAttempt.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                     finished_at__isnull=True, started_at__lt=now - lease()).values_list(
                     "pk", "record_id", "record__config_id", "record__lane")
                 if (config_id, lane) not in busy]
        PushAttempt.objects.filter(pk__in=[pk for pk, _r in stale]).update(
            finished_at=now, outcome=Outcome.FAILED, error_class="Interrupted")
        lost = Counter(record_id for _pk, record_id in stale)
        by_count = {}  # one UPDATE per count (almost always just 1), not one per record
        for record_id, count in lost.items():
            by_count.setdefault(count, []).append(record_id)
        for count, record_ids in by_count.items():
            PushRecord.objects.filter(pk__in=record_ids).update(attempts=F("attempts") + count)
