"""One export: the data chosen, the package built, handed to the scheme's target, logged.

Which data (the seed's note: "because the data comes from different nodes, the exported data
may differ"):
- an automatic export (trigger "moment") uses the snapshot carried by the workflow event that
  reached the scheme's node and moment — the form data and sign opinions as they stood then
  (before an approval node, none of that node's opinions). The snapshot is taken in the inbox's
  transaction (archiving.outbox), so later events cannot change what a retry sends;
- a call of the Action intias_wf (an action flow, or REST) and a manual re-archive use the
  request's current data (Request.form_data / sign_opinions: the newest the OA sent).

The log row is written as `pending` before the package leaves, and completed after; a retry
of the same export reuses its row and its idempotency key: `archive-<log id>` for the Action and
a re-archive (one row per call), `archive-job-<job id>` for an automatic export (the job outlives
any one worker, see archiving.outbox).
"""
import logging
import time
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from .models import ArchiveLog
from .package import ExportData, PackageError, build
from .targets import Delivery, UnknownKind
from .vocabulary import DataSource, LogTrigger, Outcome

log = logging.getLogger(__name__)


class RearchiveRefused(Exception):
    """A log row that cannot be re-archived (its scheme or request is gone)."""


class Superseded(Exception):
    """The `fence` of an export no longer holds: another worker took the job over, and the log
    row is its to write."""


@dataclass
class Snapshot:
    """The data a workflow event carried (see archiving.outbox)."""

    form_data: dict
    sign_opinions: list
    event_id: str
    as_of: str
    node_name: str = ""
    moment: str = ""

    @classmethod
    def from_json(cls, data):
        return cls(form_data=data.get("form_data") or {},
                   sign_opinions=data.get("sign_opinions") or [],
                   event_id=data.get("event_id", ""), as_of=data.get("as_of", ""),
                   node_name=data.get("node_name", ""), moment=data.get("moment", ""))


def export_data(scheme, request, trigger, snapshot=None, exported_at=None):
    workflow = scheme.workflow
    if snapshot is not None:
        form_data, opinions = snapshot.form_data, snapshot.sign_opinions
        source, event_id, as_of = DataSource.EVENT, snapshot.event_id, snapshot.as_of
    else:
        form_data, opinions = request.form_data or {}, request.sign_opinions or []
        source, event_id = DataSource.CURRENT, ""
        as_of = request.last_event_at.isoformat() if request.last_event_at else ""
    return ExportData(
        scheme_id=scheme.pk, scheme_name=scheme.name, mapping=scheme.field_mapping or [],
        include_sign_opinions=scheme.include_sign_opinions, node_name=scheme.node_name,
        moment=scheme.moment, trigger=trigger, request_id=request.request_id,
        request_title=request.title, creator=request.creator, request_status=request.status,
        workflow_id=workflow.workflow_id, workflow_name=workflow.name,
        form_data=form_data if isinstance(form_data, dict) else {},
        sign_opinions=opinions if isinstance(opinions, list) else [],
        source=source, source_event_id=event_id, as_of=as_of,
        exported_at=exported_at or timezone.now(),
    )


def new_log(scheme, request, trigger, data, operator="", rearchive_of=None):
    """A log row for an export that has not started yet (saved by the caller)."""
    return ArchiveLog(scheme=scheme, scheme_name=scheme.name, oa_request=request,
                      request_id=request.request_id, workflow_id=data.workflow_id,
                      trigger=trigger, node_name=scheme.node_name, moment=scheme.moment,
                      target=scheme.target, target_name=scheme.target.name,
                      operator=operator[:150], rearchive_of=rearchive_of,
                      data_source=data.source, source_event_id=data.source_event_id)


def save_fenced(entry, fields, fence):
    """Save `fields` of `entry`; with a fence (a condition on the row) only while it holds."""
    if fence is None:
        entry.save()
        return
    if not ArchiveLog.objects.filter(fence, pk=entry.pk).update(
            **{name: getattr(entry, name) for name in fields}):
        raise Superseded(entry.pk)


START_FIELDS = ["data_source", "source_event_id", "outcome", "permanent", "message", "attempts",
                "created_at", "finished_at", "duration_ms"]
FINISH_FIELDS = ["outcome", "permanent", "message", "target_answer", "http_status", "location",
                 "package_name", "checksum", "size", "exported_data", "finished_at",
                 "duration_ms"]


def start_log(scheme, request, trigger, data, operator="", rearchive_of=None, entry=None,
              fence=None):
    """The log row of an attempt, saved before anything leaves."""
    if entry is None:
        entry = new_log(scheme, request, trigger, data, operator, rearchive_of)
    entry.data_source, entry.source_event_id = data.source, data.source_event_id
    entry.outcome, entry.permanent, entry.message = Outcome.PENDING, False, ""
    entry.attempts += 1
    entry.created_at = entry.created_at or timezone.now()
    entry.finished_at = entry.duration_ms = None
    save_fenced(entry, START_FIELDS, fence)
    return entry


def finish_log(entry, result, package=None, exported=None, started=None, fence=None):
    entry.outcome = Outcome.SUCCESS if result.ok else Outcome.FAILED
    entry.permanent = bool(not result.ok and result.permanent)
    entry.message = result.message
    entry.target_answer = result.answer or ""
    entry.http_status = result.http_status
    entry.location = (result.location or "")[:1000]
    if package is not None:
        entry.package_name, entry.checksum, entry.size = (package.file_name, package.checksum,
                                                          package.size)
    if exported is not None:
        entry.exported_data = exported
    entry.finished_at = timezone.now()
    if started is not None:
        entry.duration_ms = int((time.monotonic() - started) * 1000)
    save_fenced(entry, FINISH_FIELDS, fence)
    return entry


def export(scheme, request, trigger, *, snapshot=None, operator="", rearchive_of=None,
           entry=None, idempotency_key=None, fence=None):
    """Archive `request` with `scheme` and return the completed log row. Never raises for a
    failed hand-over: the row says what happened (outcome, message, permanent).

    `idempotency_key` defaults to `archive-<log id>`. With `fence` (a condition on the log
    row, e.g. "my job claim still stands") the row is only written while it holds; otherwise
    Superseded is raised and the row is left to whoever took over."""
    started = time.monotonic()
    data = export_data(scheme, request, trigger, snapshot)
    entry = start_log(scheme, request, trigger, data, operator, rearchive_of, entry, fence)
    try:
        package = build(data)
    except PackageError as exc:
        exported = {"form_data.json": data.form_data}
        if data.include_sign_opinions:
            exported["sign_opinions.json"] = data.sign_opinions
        return finish_log(entry, Delivery(
            False, _("Required form fields have no value: %(fields)s.") % {"fields": str(exc)},
            permanent=True), exported=exported, started=started, fence=fence)
    key = idempotency_key or f"archive-{entry.pk}"
    try:
        handler = scheme.target.handler()
        result = handler.run(lambda: handler.deliver(package, idempotency_key=key))
    except UnknownKind as exc:
        result = Delivery(False, str(exc), permanent=True)
    except Exception as exc:  # a bug or a broken target row must still close the log row
        log.exception("archive export %s failed unexpectedly", entry.pk)
        result = Delivery(False, _("Unexpected error: %(error)s") % {"error": exc})
    return finish_log(entry, result, package, package.exported, started, fence)


def refuse(scheme, request, trigger, message, *, snapshot=None, operator="", entry=None,
           fence=None):
    """A log row for an export that was not attempted, failed permanently with `message`."""
    data = export_data(scheme, request, trigger, snapshot)
    entry = start_log(scheme, request, trigger, data, operator, entry=entry, fence=fence)
    return finish_log(entry, Delivery(False, str(message), permanent=True), fence=fence)


def rearchive(entry, operator=""):
    """Manual re-archive (重新手动归档) of a log row: the same scheme, the request's current
    data, a new log row linked to the old one."""
    scheme = entry.scheme
    if scheme is None:
        raise RearchiveRefused(_("The archive scheme of this log entry no longer exists."))
    request = entry.oa_request
    if request is None:
        from integration.models import Request

        request = Request.objects.filter(request_id=entry.request_id).first()
    if request is None:
        raise RearchiveRefused(_("The request %(id)s is no longer known.")
                               % {"id": entry.request_id})
    return export(scheme, request, LogTrigger.REARCHIVE, operator=operator, rearchive_of=entry)
