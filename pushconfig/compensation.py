"""Scheduled compensation (补偿设置): a config's beat task re-pushes what the target never took.

Each run (`pushconfig.tasks.compensate`, on the config's cron) picks the config's records that

* failed transiently (`permanent` false) and whose automatic retries are exhausted
  (`next_attempt_at` NULL), or are `pending` and unanswered — never sent, or their last
  attempt was interrupted — and not being sent right now;
* have waited `compensation_wait` minutes since their last try (answered at, or the last
  compensation, or their creation when never tried);
* have been re-pushed by compensation fewer than `compensation_retries` times;

oldest first, in batches of BATCH. Failed records that have a scheduled automatic retry are
left to it (the outbox sweeper enqueues them when due). Permanent failures (unknown receiver,
refused credentials …) are never retried blindly: they stay in the log for a re-push by hand
once the cause is fixed. Two cases are left out to keep each (request, receiver, identity) in
order: a pending record waiting behind an earlier open record of its key (that one goes
first, then it), and a failed record whose key has since delivered a later record (re-sending
an old todo after its done would bring back a finished todo).

Claiming is one conditional UPDATE per batch and outcome: `compensations + 1` and
`next_attempt_at = now`, under a WHERE that repeats the eligibility conditions. A claimed
failed record is no longer exhausted and a claimed pending one has just been tried, so a second
beat or worker running at the same time updates none of them (on PostgreSQL its UPDATE waits
for the first one's row locks, then re-reads the rows and skips them). A claimed failed record
keeps its outcome `failed`: with a due `next_attempt_at` it is open again
(`delivery.open_records`), and the lane workers — one per lane, each key in order — send it
once; failing again, it is exhausted again (one more attempt per compensation). Then the lanes
of the batch are enqueued.

A run does nothing while its config is disabled or compensation is off, or while the
config's circuit breaker is open or half open: pushes would only fail, and the breaker's probe
delivers the backlog in order when the target recovers.
"""
import logging
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from .delivery import enqueue_lanes, lease
from .models import Breaker, PushConfig, PushRecord
from .models.log import OPEN, in_flight
from .vocabulary import Outcome

log = logging.getLogger(__name__)

BATCH = 1000
# A run stops after this many batches (a million records); the next run goes on.
MAX_BATCHES = 1000

DISABLED, OFF, FUSED, MISSING = "config disabled", "compensation off", "breaker open", "no config"


@dataclass
class Result:
    failed: int = 0   # failed records claimed for a re-push
    pending: int = 0  # unanswered pending records claimed
    lanes: int = 0    # lanes handed to workers
    skipped: str = ""  # why nothing was done, if so

    @property
    def claimed(self):
        return self.failed + self.pending

    def as_dict(self):
        return {**asdict(self), "claimed": self.claimed}


def _same_key(**extra):
    return PushRecord.objects.filter(
        config_id=OuterRef("config_id"), request_id=OuterRef("request_id"),
        receiver=OuterRef("receiver"), identity=OuterRef("identity"), **extra)


def claimable(config, now):
    """The conditions a claim re-checks in its UPDATE: cheap, on the row itself."""
    cutoff = now - timedelta(minutes=config.compensation_wait)
    waited = (Q(created_at__lte=cutoff)
              & (Q(pushed_at__isnull=True) | Q(pushed_at__lte=cutoff))
              & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=cutoff)))
    failed = Q(outcome=Outcome.FAILED, permanent=False, next_attempt_at__isnull=True)
    return PushRecord.objects.filter(
        waited, failed | Q(outcome=Outcome.PENDING), config_id=config.pk,
        compensations__lt=config.compensation_retries)


def due(config, now):
    """What a run re-pushes, oldest first (see the module docstring)."""
    open_earlier = _same_key(id__lt=OuterRef("id")).filter(OPEN)
    delivered_later = _same_key(id__gt=OuterRef("id"), outcome=Outcome.SUCCESS)
    return claimable(config, now).filter(
        Q(outcome=Outcome.FAILED) & ~Exists(delivered_later)
        | Q(outcome=Outcome.PENDING) & ~Exists(in_flight(now - lease())) & ~Exists(open_earlier)
    ).order_by("id")


def skip_reason(config):
    if config is None:
        return MISSING
    if not config.enabled:
        return DISABLED
    if not config.compensation_enabled:
        return OFF
    if Breaker.objects.filter(config=config).exclude(state=Breaker.State.CLOSED).exists():
        return FUSED
    return ""


def run(config_id, now=None, batch=BATCH):
    """One compensation run of a config. Returns a Result."""
    config = PushConfig.objects.filter(pk=config_id).first()
    reason = skip_reason(config)
    if reason:
        log.info("compensation of push config %s skipped: %s", config_id, reason)
        return Result(skipped=reason)
    now = now or timezone.now()
    result, enqueued, after = Result(), set(), 0
    for _round in range(MAX_BATCHES):
        rows = list(due(config, now).filter(id__gt=after).values_list("id", "outcome", "lane")
                    [:batch])
        if not rows:
            break
        after = rows[-1][0]
        for outcome in (Outcome.FAILED, Outcome.PENDING):
            ids = [pk for pk, got, _lane in rows if got == outcome]
            if ids:
                count = claimable(config, now).filter(id__in=ids, outcome=outcome).update(
                    compensations=F("compensations") + 1, next_attempt_at=now)
                setattr(result, outcome, getattr(result, outcome) + count)
        lanes = {(config.pk, lane) for _pk, _outcome, lane in rows} - enqueued
        enqueue_lanes(lanes)  # a lane another run claimed too only finds nothing more to send
        enqueued |= lanes
        if len(rows) < batch:
            break
    result.lanes = len(enqueued)
    log.info("compensation of push config %s: %s", config_id, result.as_dict())
    return result
