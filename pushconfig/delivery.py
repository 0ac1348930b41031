"""The push pipeline's second half, on workers: records leave in order, in batches, over one
reused HTTP session per config and process.

A config's records are spread over lanes by (request, receiver, identity). A worker leases a
lane (a conditional UPDATE, so two workers never hold one), takes the oldest due records —
at most one per key per round, and none of a key whose earlier record still waits for a retry
— writes an attempt row for each before the call, sends them, and completes attempts and
records with bulk updates. Lanes of one config run in parallel on several workers; each key's
records reach the target in the order they were accepted.
"""
import logging
import uuid
import zlib
from datetime import timedelta

import requests
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _


from . import breaker
from .items import build_items
from .models import Breaker, DeliveryLane, PushAttempt, PushConfig, PushRecord
from .vocabulary import Outcome

log = logging.getLogger(__name__)
_sessions: dict[int, tuple] = {}


def lane_of(request_id, receiver, identity):
    key = f"{request_id}\x1f{receiver}\x1f{identity}".encode()
    return zlib.crc32(key) % settings.PUSH_LANES


def enqueue_lanes(pairs):
    """Hand lanes to workers. A broker outage only delays: the sweeper finds the records."""
    from .tasks import deliver_lane

    for config_id, lane in sorted(pairs):
        try:
            deliver_lane.apply_async((config_id, lane), retry=False)
        except Exception:  # the records are safe in the database; the sweeper re-enqueues
            log.warning("broker unavailable: %d lane(s) left to the sweeper", len(pairs),
                        exc_info=True)
            return  # one failure says the broker is down: don't wait on it for every lane


def open_records(config_id, lane=None):
    """Records that still need a call: pending ones, and transient failures with a retry due."""
    query = PushRecord.objects.filter(config_id=config_id).filter(
        Q(outcome=Outcome.PENDING)
        | Q(outcome=Outcome.FAILED, permanent=False, next_attempt_at__isnull=False))
    return query if lane is None else query.filter(lane=lane)


def session_for(config):
    """One HTTP session (keep-alive pool) per config and process, renewed when it is edited."""
    cached = _sessions.get(config.pk)
    if cached and cached[0] == config.updated_at:
        return cached[1]
    session = requests.Session()
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


def next_batch(config_id, lane, size):
    now = timezone.now()
    window = open_records(config_id, lane).order_by("id")[: size * 4]
    taken, seen = [], set()
    for record in window:
        if record.key in seen:
            continue  # one per key per round; later ones wait behind the earlier
        seen.add(record.key)
        if record.next_attempt_at is None or record.next_attempt_at <= now:
            taken.append(record)
            if len(taken) >= size:
                break
    return taken


def lease():
    return timedelta(seconds=settings.PUSH_LANE_LEASE_SECONDS)


def _lease(config_id, lane, holder):
    DeliveryLane.objects.get_or_create(config_id=config_id, lane=lane)
    now = timezone.now()
    return DeliveryLane.objects.filter(config_id=config_id, lane=lane).filter(
        Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    ).update(leased_until=now + lease(), holder=holder) == 1


def _release(config_id, lane, holder):
    DeliveryLane.objects.filter(config_id=config_id, lane=lane, holder=holder).update(
        leased_until=None, holder="")


def run_lane(config_id, lane, budget_seconds=30.0):
    """Deliver what is due on one lane. Returns the number of records sent, or None when
    another worker holds the lane (it will find what we were asked to send)."""
    holder = uuid.uuid4().hex
    if not _lease(config_id, lane, holder):
        return None
    sent = 0
    deadline = timezone.now() + timedelta(seconds=budget_seconds)
    try:
        config = PushConfig.objects.filter(pk=config_id, enabled=True).first()
        if config is None:
            return 0  # disabled: records wait, nothing is lost
        transport = transport_for(config)
        while timezone.now() < deadline:
            admitted = breaker.admit(config)
            if admitted == breaker.WAIT:
                break  # fused: the records wait as they are; a probe will come
            probing = admitted == breaker.PROBE
            batch = next_batch(config_id, lane, 1 if probing else transport.batch_size)
            if not batch:
                if probing:
                    breaker.give_back_probe(config)
                break
            results = send_batch(config, transport, batch)
            breaker.record(config, results, probing)
            sent += len(batch)
            DeliveryLane.objects.filter(config_id=config_id, lane=lane, holder=holder).update(
                leased_until=timezone.now() + lease())
    finally:
        _release(config_id, lane, holder)
    return sent


def send_batch(config, transport, records):
    now = timezone.now()
    items, refused = build_items(config, records)
    attempts = [PushAttempt(record=r, number=r.attempts + 1, started_at=now) for r in records]
    PushAttempt.objects.bulk_create(attempts)
    for record in records:
        record.attempts += 1
    PushRecord.objects.bulk_update(records, ["attempts"])

    results = dict(refused)
    sendable = [item for item in items if item.record_id not in results]
    try:
        for item, result in zip(sendable, transport.send(sendable), strict=True):
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
    for record, attempt in zip(records, attempts, strict=True):
        result = results[record.pk]
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
    PushAttempt.objects.bulk_update(attempts, ["finished_at", "outcome", "http_status", "duration_ms",
                                               "error_class", "request", "response"])
    PushRecord.objects.bulk_update(records, ["outcome", "reason", "permanent", "next_attempt_at",
                                             "pushed_at"])


def backoff_seconds(attempts):
    """30 s, 1 min, 2 min … (PUSH_RETRY_BASE_SECONDS doubling) capped at 30 min, the seed's
    longest compensation wait."""
    return min(settings.PUSH_RETRY_BASE_SECONDS * 2 ** (attempts - 1), 1800)


def sweep():
    """Re-enqueue lanes with due work that no worker holds: after a broker outage, a worker
    crash, or a retry coming due. Also closes attempts a crash left open."""
    now = timezone.now()
    PushAttempt.objects.filter(finished_at__isnull=True, started_at__lt=now - lease()).update(
        finished_at=now, outcome=Outcome.FAILED, error_class="Interrupted")
    fused = Breaker.objects.exclude(state=Breaker.State.CLOSED).filter(probe_at__gt=now)
    due = PushRecord.objects.filter(config__enabled=True).exclude(
        config_id__in=fused.values("config_id")).filter(
        Q(outcome=Outcome.PENDING)
        | Q(outcome=Outcome.FAILED, permanent=False, next_attempt_at__lte=now)
    ).values_list("config_id", "lane").distinct()
    busy = set(DeliveryLane.objects.filter(leased_until__gt=now).values_list("config_id", "lane"))
    pairs = set(due) - busy
    enqueue_lanes(pairs)
    return len(pairs)


