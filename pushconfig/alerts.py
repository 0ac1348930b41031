"""Failure alerts of push configs (推送异常提醒): when a fuse opens and when it recovers, each
channel the config names (IM, cloud bridge, email, SMS — integration.notify) gets one alert
to the config's persons and the members of its roles.

`on_fuse_changed` receives pushconfig.signals.fuse_changed (sent after the breaker's
transaction commits) and hands the work to the Celery task
pushconfig.alerts.send_fuse_alerts, so a slow mail server never holds up a push worker; when
the broker cannot take it, the alerts are sent at once instead (an alert that waits for the
broker to come back is no alert). `send_alerts` does the work: each channel is claimed by
inserting its AlertLog row (unique per fuse, event and channel) before anything is sent, so a
repeated signal or a redelivered task sends nothing twice; it returns the channels that failed
transiently, which the task retries.
"""
import logging
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from integration.models import Person, Role
from integration.notify import REGISTRY, get_channel

from .models import AlertLog, FuseRecord

log = logging.getLogger(__name__)

EVENT_NAMES = {"open": _("fused"), "recover": _("recovered")}
STANDARD_SUBJECT = {
    "open": _("[Push alert] {config} is fused"),
    "recover": _("[Push alert] {config} has recovered"),
}
STANDARD_CONTENT = {
    "open": _("Pushes to {config} kept failing, and the circuit breaker opened at {time}. "
              "Reason: {reason}. {backlog} pushes are waiting; they are kept and delivered in "
              "order once the target answers again."),
    "recover": _("Pushes to {config} go through again: the circuit breaker closed at {time}. "
                 "The {backlog} waiting pushes are being delivered."),
}
PLACEHOLDER = re.compile(r"\{(config|time|reason|backlog|event)\}")


def fill(template, values):
    """Replace the known placeholders; any other brace is left as typed (never str.format on
    administrator text: "{config.__class__}" must not reach into objects)."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], str(template))


def placeholders(fuse, event):
    from .breaker import backlog

    when = fuse.recover_time if event == "recover" else fuse.create_time
    return {
        "config": fuse.config.system_name,
        "time": timezone.localtime(when).strftime("%Y-%m-%d %H:%M:%S") if when else "",
        "reason": fuse.reason or "—",
        "backlog": str(backlog(fuse.config)),
        "event": str(EVENT_NAMES[event]),
    }


def texts(fuse, event):
    """(standard subject, standard content, custom subject, custom content), all filled.
    Custom text applies where a channel says it does (email and SMS); empty custom text falls
    back to the standard one."""
    values = placeholders(fuse, event)
    config = fuse.config
    subject = fill(STANDARD_SUBJECT[event], values)
    content = fill(STANDARD_CONTENT[event], values)
    custom_subject = fill(config.alert_subject, values) if config.alert_subject.strip() else subject
    custom_content = fill(config.alert_content, values) if config.alert_content.strip() else content
    return subject, content, custom_subject, custom_content


def recipients(config):
    """The config's persons (their main identity) and the members of its roles, once each,
    active ones only, in a stable order."""
    ids = set(config.alert_persons.values_list("pk", flat=True))
    ids |= set(Role.members.through.objects.filter(
        role__in=config.alert_roles.all()).values_list("person_id", flat=True))
    return list(Person.objects.filter(pk__in=ids, active=True).order_by("pk"))


def claim(fuse, event, channel):
    """The AlertLog row this worker may send for, or None when another has it (sent, being
    sent, or failed for good)."""
    try:
        with transaction.atomic():
            return AlertLog.objects.create(fuse=fuse, event=event, channel=channel)
    except IntegrityError:
        pass
    # A transient failure waiting for its retry: one taker.
    retaken = AlertLog.objects.filter(
        fuse=fuse, event=event, channel=channel, outcome=AlertLog.Outcome.FAILED,
        permanent=False).update(outcome=AlertLog.Outcome.SENDING, attempts=F("attempts") + 1)
    return AlertLog.objects.get(fuse=fuse, event=event, channel=channel) if retaken else None


def send_alerts(fuse_id, event):
    """Send what is not sent yet for this fuse and event; return the channels to retry."""
    fuse = FuseRecord.objects.select_related("config").filter(pk=fuse_id).first()
    if fuse is None or event not in EVENT_NAMES:
        return []
    config = fuse.config
    channels = list(dict.fromkeys(config.alert_channels or []))
    if not channels:
        return []
    with translation.override(settings.LANGUAGE_CODE):
        subject, content, custom_subject, custom_content = texts(fuse, event)
        persons = recipients(config)
        retry = []
        for key in channels:
            entry = claim(fuse, event, key)
            if entry is None:
                continue
            if key not in REGISTRY:
                _finish(entry, False, _("“%(name)s” is not a registered alert channel.")
                        % {"name": key}, True, [], "", "")
                continue
            channel = get_channel(key)
            if channel.uses_custom_text:
                title, text = custom_subject, custom_content
            else:
                title, text = subject, content
            done = set(entry.reached)
            try:
                result = channel.send([p for p in persons if p.pk not in done], title, text)
            except Exception as exc:  # noqa: BLE001 — one broken channel must not stop the others
                log.exception("alert channel %s failed for fuse %s", key, fuse_id)
                _finish(entry, False, f"{type(exc).__name__}: {exc}"[:2000], False, [], title,
                        text)
                retry.append(key)
                continue
            _finish(entry, result.ok, result.detail, result.permanent, result.reached, title, text)
            if not result.ok and not result.permanent:
                retry.append(key)
    return retry


def _finish(entry, ok, detail, permanent, reached, subject, content):
    outcome = AlertLog.Outcome.SENT if ok else AlertLog.Outcome.FAILED
    AlertLog.objects.filter(pk=entry.pk).update(
        outcome=outcome, detail=detail, permanent=bool(permanent and not ok),
        reached=sorted(set(entry.reached) | set(reached)), subject=subject[:300],
        content=content, sent_at=timezone.now() if ok else None)


def on_fuse_changed(sender, fuse, event, **kwargs):
    if not fuse.config.alert_channels:
        return
    from kombu.exceptions import OperationalError

    from .tasks_alerts import send_fuse_alerts

    try:
        send_fuse_alerts.apply_async((fuse.pk, event), retry=False)
    except (OperationalError, OSError):
        log.warning("could not enqueue the alerts of fuse %s; sending them now", fuse.pk,
                    exc_info=True)
        send_alerts(fuse.pk, event)


def connect():
    from . import tasks_alerts  # noqa: F401  (registers the task with workers)
    from .signals import fuse_changed

    fuse_changed.connect(on_fuse_changed, dispatch_uid="pushconfig.alerts")
