"""The circuit breaker of each push config (熔断).

Counted failures are the transient ones — timeouts, refused connections, HTTP 5xx, 408 and
429: they say the target is in trouble. A permanent failure (an unknown receiver, a refused
parameter) is about one item and shows the target answering, so it resets the count like a
success. After `fuse_threshold` counted failures in a row the breaker opens: nothing more is
sent to that target, new pushes wait as `pending`, and a FuseRecord is written. Every
`fuse_cooldown` seconds one worker takes the breaker half open and sends one record as a probe;
an answer closes it (the record gets `recover_time`, the waiting backlog is enqueued and goes
out in order per key), no answer opens it again.

Every change is a conditional UPDATE on the shared Breaker row, so with any number of workers
on any number of machines one of them opens, probes or closes, and the others see it.
"""
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Breaker, FuseRecord
from .signals import fuse_changed
from .transports.base import LOCAL_ERRORS
from .vocabulary import Outcome

SEND, PROBE, WAIT = "send", "probe", "wait"


def breaker_of(config):
    return Breaker.objects.get_or_create(config=config)[0]


def admit(config):
    """May this worker send now? SEND (closed), PROBE (we hold the half-open probe) or WAIT."""
    breaker = breaker_of(config)
    if breaker.state == Breaker.State.CLOSED:
        return SEND
    now = timezone.now()
    if breaker.probe_at and breaker.probe_at > now:
        return WAIT
    # Open with a probe due, or half open whose prober vanished: take the probe, once.
    taken = Breaker.objects.filter(pk=breaker.pk, state=breaker.state,
                                   probe_at=breaker.probe_at).update(
        state=Breaker.State.HALF_OPEN, probe_at=now + timedelta(seconds=config.fuse_cooldown))
    return PROBE if taken else WAIT


def give_back_probe(config):
    """The prober found nothing to send on its lane: let another lane probe at once."""
    Breaker.objects.filter(config=config, state=Breaker.State.HALF_OPEN).update(
        state=Breaker.State.OPEN, probe_at=timezone.now())


def record(config, results, probing=False):
    """Update the breaker from a batch's results (Delivery objects, in sending order)."""
    results = [r for r in results if r.error_class not in LOCAL_ERRORS]
    answered = [r.ok or r.permanent for r in results]
    if probing:
        if any(answered):
            _close(config)
        elif results:
            _reopen(config, results[-1].reason)
        else:
            give_back_probe(config)  # nothing reached the target: another record probes
        return
    if not results:
        return
    if all(answered):
        Breaker.objects.filter(config=config, failures__gt=0).update(failures=0)
        return
    if any(answered):
        # Only the run after the last answer is still "in a row".
        trailing = len(answered) - 1 - max(i for i, a in enumerate(answered) if a)
        Breaker.objects.filter(config=config).update(failures=trailing)
    else:
        Breaker.objects.filter(config=config).update(failures=F("failures") + len(results))
    breaker = breaker_of(config)
    if breaker.state == Breaker.State.CLOSED and breaker.failures >= config.fuse_threshold:
        _open(config, breaker, results[-1].reason)


def _open(config, breaker, reason):
    from .delivery import open_records

    now = timezone.now()
    with transaction.atomic():
        opened = Breaker.objects.filter(pk=breaker.pk, state=Breaker.State.CLOSED).update(
            state=Breaker.State.OPEN, probe_at=now + timedelta(seconds=config.fuse_cooldown))
        if not opened:
            return  # another worker opened it first
        fuse = FuseRecord.objects.create(config=config, create_time=now, reason=reason[:2000],
                                         backlog=open_records(config.pk).count())
        Breaker.objects.filter(pk=breaker.pk).update(fuse=fuse)
        transaction.on_commit(lambda: fuse_changed.send(FuseRecord, fuse=fuse, event="open"),
                              robust=True)


def _reopen(config, reason):
    breaker = breaker_of(config)
    Breaker.objects.filter(pk=breaker.pk, state=Breaker.State.HALF_OPEN).update(
        state=Breaker.State.OPEN,
        probe_at=timezone.now() + timedelta(seconds=config.fuse_cooldown))
    if breaker.fuse_id:
        FuseRecord.objects.filter(pk=breaker.fuse_id).update(probes=F("probes") + 1)


def _close(config):
    from .delivery import enqueue_lanes, lanes_of, open_records

    now = timezone.now()
    with transaction.atomic():
        breaker = Breaker.objects.select_for_update().get(config=config)
        if breaker.state != Breaker.State.HALF_OPEN:
            return
        fuse = breaker.fuse
        Breaker.objects.filter(pk=breaker.pk).update(state=Breaker.State.CLOSED, failures=0,
                                                     probe_at=None, fuse=None)
        if fuse is not None:
            fuse.recover_time = now
            fuse.save(update_fields=["recover_time"])
            transaction.on_commit(
                lambda: fuse_changed.send(FuseRecord, fuse=fuse, event="recover"), robust=True)
        # The backlog waited while fused: every lane with work gets a worker again.
        lanes = lanes_of(open_records(config.pk))
        transaction.on_commit(lambda: enqueue_lanes(lanes), robust=True)


def backlog(config):
    from .delivery import open_records

    return open_records(config.pk).filter(outcome=Outcome.PENDING).count()
