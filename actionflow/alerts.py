"""Telling people that a run failed, through the alert channels (integration.notify) named
on the flow, to its alert persons and the members of its alert roles. At most once per run:
the run's `alerted_at` is claimed with a conditional update before anything is sent."""
import logging

from django.utils import timezone
from django.utils.translation import gettext as _

from integration.notify import get_channel
from pushconfig.alerts import recipients

from .models import FlowRun

log = logging.getLogger(__name__)


def texts(run):
    subject = _("Action flow failed: %(flow)s") % {"flow": run.flow.name}
    content = _("Run #%(run)d of “%(flow)s” (version %(version)d, %(trigger)s) failed at "
                "%(time)s.\nStep: %(step)s\nReason: %(reason)s") % {
        "run": run.pk, "flow": run.flow.name, "version": run.version.number,
        "trigger": run.get_trigger_display(), "step": run.failed_step or "-",
        "reason": run.message or "-",
        "time": timezone.localtime(run.finished_at or timezone.now()).strftime(
            "%Y-%m-%d %H:%M:%S")}
    return subject, content


def alert_failed_run(run_id):
    claimed = FlowRun.objects.filter(pk=run_id, status=FlowRun.Status.FAILED,
                                     alerted_at__isnull=True).update(alerted_at=timezone.now())
    if not claimed:
        return []
    run = FlowRun.objects.select_related("flow", "version").get(pk=run_id)
    persons = recipients(run.flow)
    subject, content = texts(run)
    results = []
    for key in run.flow.alert_channels or []:
        try:
            result = get_channel(key).send(persons, subject, content)
        except Exception:  # one channel's trouble must not keep the others from sending
            log.exception("alert channel %s failed for flow run %s", key, run_id)
            continue
        results.append((key, result.ok, result.detail))
    return results
