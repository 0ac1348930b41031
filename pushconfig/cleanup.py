"""Scheduled cleanup of the push log (定时清理).

Daily at the config's cleanup hour (`pushconfig.tasks.cleanup`), the config's push records
triggered more than `cleanup_keep_days` days ago whose outcome is success, ignored or pending
(成功、忽略、未返回) are deleted with their attempts. Failed and intercepted records stay:
they are what an administrator still has to look at. The log can hold millions of rows, so
deletion goes in chunks of CHUNK ids, each chunk its own short transaction (its rows locked,
its attempts deleted, then the records), so no statement holds locks for long and an
interrupted run loses nothing but time. `preview()` is the dry run: what a run would delete,
per outcome, without deleting.
"""
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Exists, Max, Min
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .models import PushConfig, PushRecord
from .models.log import delete_chunk, in_flight
from .vocabulary import Outcome

log = logging.getLogger(__name__)

CHUNK = 2000
CLEANED = (Outcome.SUCCESS, Outcome.IGNORED, Outcome.PENDING)


@dataclass
class Report:
    """What a cleanup deleted, or would delete (dry run)."""

    config: PushConfig
    cutoff: object
    counts: dict = field(default_factory=dict)  # outcome -> records
    oldest: object = None  # triggered at, of the oldest record concerned
    newest: object = None
    skipped: str = ""

    @property
    def total(self):
        return sum(self.counts.values())

    def as_dict(self):
        return {"config": self.config.pk, "cutoff": self.cutoff.isoformat(),
                "counts": dict(self.counts), "total": self.total,
                "oldest": self.oldest.isoformat() if self.oldest else None,
                "newest": self.newest.isoformat() if self.newest else None,
                "skipped": self.skipped}


def _when(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


def describe(report, dry_run):
    """One line for the admin's message or the command's output."""
    values = {"config": str(report.config), "cutoff": _when(report.cutoff),
              "total": report.total, "oldest": _when(report.oldest),
              "newest": _when(report.newest),
              "success": report.counts.get(Outcome.SUCCESS, 0),
              "ignored": report.counts.get(Outcome.IGNORED, 0),
              "pending": report.counts.get(Outcome.PENDING, 0)}
    if report.skipped:
        return _("%(config)s: cleanup is off; nothing was deleted.") % values
    if not report.total:
        return _("%(config)s: no success, ignored or pending record was triggered before "
                 "%(cutoff)s; nothing to delete.") % values
    if dry_run:
        text = ngettext(
            "%(config)s: would delete %(total)d record triggered before %(cutoff)s",
            "%(config)s: would delete %(total)d records triggered before %(cutoff)s",
            report.total)
    else:
        text = ngettext(
            "%(config)s: deleted %(total)d record triggered before %(cutoff)s",
            "%(config)s: deleted %(total)d records triggered before %(cutoff)s",
            report.total)
    return (text % values) + " " + _(
        "(success %(success)d, ignored %(ignored)d, pending %(pending)d; oldest %(oldest)s, "
        "newest %(newest)s).") % values


def cutoff_of(config, now=None):
    return (now or timezone.now()) - timedelta(days=config.cleanup_keep_days)


def expired(config, now=None):
    """The records a cleanup of `config` deletes: never one a worker is sending right now."""
    from .delivery import lease

    return PushRecord.objects.filter(config_id=config.pk, outcome__in=CLEANED,
                                     created_at__lt=cutoff_of(config, now)).exclude(
        Exists(in_flight((now or timezone.now()) - lease())))


def preview(config, now=None):
    """The dry run: counts per outcome, oldest and newest, nothing deleted."""
    report = Report(config, cutoff_of(config, now))
    rows = expired(config, now).order_by().values("outcome").annotate(
        n=Count("id"), oldest=Min("created_at"), newest=Max("created_at"))
    for row in rows:
        report.counts[row["outcome"]] = row["n"]
        report.oldest = min(filter(None, [report.oldest, row["oldest"]]), default=None)
        report.newest = max(filter(None, [report.newest, row["newest"]]), default=None)
    return report


def run(config, now=None, chunk=CHUNK):
    """Delete the config's expired records in chunks. Returns a Report of what went."""
    report = Report(config, cutoff_of(config, now))
    query = expired(config, now)
    after = 0
    while True:
        with transaction.atomic():
            # Locked until the chunk is gone, so what is counted is what goes.
            rows = query.filter(id__gt=after).order_by("id").select_for_update()[:chunk]
            gone = delete_chunk(rows)
        for outcome, count, oldest, newest, last in gone:
            report.counts[outcome] = report.counts.get(outcome, 0) + count
            report.oldest = min(filter(None, [report.oldest, oldest]))
            report.newest = max(filter(None, [report.newest, newest]))
            after = max(after, last)
        if sum(row[1] for row in gone) < chunk:
            break
    log.info("cleanup of push config %s: %s", config.pk, report.as_dict())
    return report


def run_for(config_id, now=None):
    """The beat task's body: skip a config that is gone or whose cleanup is off."""
    config = PushConfig.objects.filter(pk=config_id).first()
    if config is None:
        return None
    if not config.cleanup_enabled:
        return Report(config, cutoff_of(config, now), skipped="cleanup off")
    return run(config, now)
