"""Accepting and replaying callbacks: the only code that writes.

An accepted callback is one transaction: its events go through the inbox
(ingest_todo_events, source "callback:<slug>") and a CallbackLog row keeps the parameters as
received, so that the console has what the platform itself lacks (seeds 003, FAQ): a record of
every callback and a way to apply it again. A callback identical to one already logged
(same source, action and parameters) is answered as a duplicate and changes nothing.
"""
import ipaddress
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..inbox import DUPLICATE, ingest_todo_events
from ..models import CallbackLog
from .mapping import build_events, fingerprint
from .params import normalise

REPLAY_MARK = ":replay:"


@dataclass
class Result:
    log: CallbackLog
    outcomes: list
    duplicate: bool = False
    note: str = ""

    def as_dict(self):
        data = {"success": True, "log_id": self.log.pk, "duplicate": self.duplicate,
                "outcomes": [o.as_dict() for o in self.outcomes]}
        if self.note:
            data["detail"] = self.note
        return data


@dataclass
class _Duplicate:
    """The outcome of an event of a callback already logged."""

    index: int
    event_id: str

    def as_dict(self):
        return {"index": self.index, "event_id": self.event_id, "outcome": DUPLICATE}


def event_source(source):
    return f"callback:{source.slug}"


def accept(source, action, raw, params, remote_addr=None) -> Result:
    """Store a verified callback. `raw` is what was received, `params` its normalised text."""
    digest = fingerprint(params)
    for attempt in range(2):
        try:
            with transaction.atomic():
                logged = CallbackLog.objects.filter(
                    source=source, action=action, fingerprint=digest).first()
                if logged is not None:
                    originals = [e for e in logged.event_ids if REPLAY_MARK not in e]
                    return Result(logged, [_Duplicate(i, e) for i, e in enumerate(originals)],
                                  duplicate=True)
                built = build_events(source, action, params, digest=digest)
                outcomes = ingest_todo_events(built.events, source=event_source(source)) \
                    if built.events else []
                log = CallbackLog.objects.create(
                    source=source, action=action, params=raw, fingerprint=digest,
                    request_id=built.request_id, remote_addr=_ip(remote_addr),
                    event_ids=built.event_ids,
                )
                return Result(log, outcomes, note=built.note)
        except IntegrityError:
            # The same callback, sent twice at once, was logged by the other request first:
            # the next round answers "duplicate".
            if attempt:
                raise
    raise AssertionError("unreachable")


def replay(log_id) -> Result:
    """Apply a logged callback again, with fresh event ids, bypassing the duplicate check.
    The events keep the callback's dateTime, so the inbox's time ordering keeps any newer
    state. The signature and the source's appType/corpId were checked when it arrived."""
    with transaction.atomic():
        log = CallbackLog.objects.select_for_update().select_related("source").get(pk=log_id)
        count = log.replay_count + 1
        params = normalise(log.params)
        built = build_events(log.source, log.action, params, digest=fingerprint(params),
                             suffix=f"{REPLAY_MARK}{log.pk}:{count}", check_source=False)
        outcomes = ingest_todo_events(built.events, source=event_source(log.source),
                                      force=True) if built.events else []
        log.replay_count = count
        log.last_replayed_at = timezone.now()
        log.event_ids = [*log.event_ids, *built.event_ids]
        log.save(update_fields=["replay_count", "last_replayed_at", "event_ids"])
        return Result(log, outcomes, note=built.note)


def _ip(value):
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None
