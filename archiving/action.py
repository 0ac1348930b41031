"""The serverless Action `intias_wf` version `1.0` (seeds 000): archive one workflow request
with the archive schemes of its workflow.

Inputs, as the seed's table (all text): `workflowId`, `requestId`, `creatorId` (required) and
`channelIds` (optional). `channelIds` absent, null, "" or an empty list means every enabled
scheme of the workflow whose trigger is the flow (automatic schemes archive on their own at
their moment; archiving them here too would send every request twice); otherwise the given
scheme ids, as a JSON list string `["831746869586460686","830697806837481486"]`, an actual list,
or comma-separated text. Ids given explicitly are archived whatever their trigger, as long as
they are enabled schemes of that workflow.

Outputs: `code` (text), `msg` (text), `status` (boolean) and `data` (per scheme: schemeId,
schemeName, status, code, msg, logId, checksum, size, location). `status` is true only when
every scheme archived. Bad inputs are an answer (status false, a code, a msg naming the
input), never an exception, and nothing is archived unless every input is right.

Each scheme is archived synchronously, with the request's current data (the flow step already
runs on a worker). A transient failure (the target timing out or answering 5xx) is retried
here ARCHIVE_ACTION_RETRIES times (default 2) after 1 s, 2 s … (ARCHIVE_ACTION_RETRY_SECONDS),
reusing the log row and its idempotency key; if it persists the answer is status false with
code ARCHIVE_TRANSIENT (retrying later may work; the log keeps the row for a manual
re-archive). A permanent failure answers ARCHIVE_FAILED. Schemes that succeeded are never
archived twice by these retries.
"""
import json
import logging
import re
import time

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from actionflow.actions import BOOLEAN, JSON, TEXT, Action, Param, register
from integration.ids import parse_id
from integration.models import Request, Workflow

from . import conf
from .models import ArchiveScheme
from .service import export
from .vocabulary import LogTrigger, Outcome, SchemeTrigger

log = logging.getLogger(__name__)

GROUP, VERSION = "intias_wf", "1.0"
MAX_SCHEMES = 100
MAX_TEXT = 64


class Code:
    """The Action's `code` values; README "Archive integration" lists them."""

    OK = "OK"
    MISSING_INPUT = "MISSING_INPUT"
    INVALID_INPUT = "INVALID_INPUT"
    UNKNOWN_WORKFLOW = "UNKNOWN_WORKFLOW"
    UNKNOWN_REQUEST = "UNKNOWN_REQUEST"
    REQUEST_NOT_OF_WORKFLOW = "REQUEST_NOT_OF_WORKFLOW"
    CREATOR_MISMATCH = "CREATOR_MISMATCH"
    UNKNOWN_SCHEME = "UNKNOWN_SCHEME"
    SCHEME_DISABLED = "SCHEME_DISABLED"
    SCHEME_NOT_OF_WORKFLOW = "SCHEME_NOT_OF_WORKFLOW"
    NO_SCHEME = "NO_SCHEME"
    ARCHIVE_FAILED = "ARCHIVE_FAILED"
    ARCHIVE_TRANSIENT = "ARCHIVE_TRANSIENT"
    INTERNAL_ERROR = "INTERNAL_ERROR"


# The codes that refuse an input (the REST door answers them with 400).
INPUT_CODES = {Code.MISSING_INPUT, Code.INVALID_INPUT, Code.UNKNOWN_WORKFLOW, Code.UNKNOWN_REQUEST,
               Code.REQUEST_NOT_OF_WORKFLOW, Code.CREATOR_MISMATCH, Code.UNKNOWN_SCHEME,
               Code.SCHEME_DISABLED, Code.SCHEME_NOT_OF_WORKFLOW, Code.NO_SCHEME}


class InputProblem(Exception):
    def __init__(self, code, name, message):
        super().__init__(message)
        self.code, self.name, self.message = code, name, str(message)


def answer(code, msg, status=False, data=None, errors=None):
    result = {"code": code, "msg": str(msg), "status": status, "data": data or []}
    if errors:
        # Which input each refusal is about, for the REST door's field-by-field errors.
        result["errors"] = errors
    return result


def text_input(inputs, name):
    value = inputs.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputProblem(Code.MISSING_INPUT, name,
                           _("The input %(name)s is required.") % {"name": name})
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputProblem(Code.INVALID_INPUT, name,
                           _("The input %(name)s must be text.") % {"name": name})
    text = str(value).strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "\x00"  # a lone surrogate: refused below like a NUL character
    if len(text) > MAX_TEXT or "\x00" in text:
        raise InputProblem(Code.INVALID_INPUT, name,
                           _("The input %(name)s must be at most %(max)d characters of valid "
                             "text.")
                           % {"name": name, "max": MAX_TEXT})
    return text


def scheme_ids(value):
    """The scheme ids `channelIds` names, in order without repeats; [] means "all"."""
    name = "channelIds"
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise InputProblem(Code.INVALID_INPUT, name, _(
                    "The input channelIds is not a valid JSON list; write "
                    "[\"831746869586460686\",\"830697806837481486\"] or ids separated by commas."
                )) from None
            if not isinstance(items, list):
                raise InputProblem(Code.INVALID_INPUT, name,
                                   _("The input channelIds must be a list of scheme ids."))
        else:
            # Full-width commas turn up when the ids are typed with a Chinese input method.
            items = re.split(r"[,，]", text)
    elif isinstance(value, list | tuple):
        items = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        raise InputProblem(Code.INVALID_INPUT, name,
                           _("The input channelIds must be text or a list of scheme ids."))
    ids = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise InputProblem(Code.INVALID_INPUT, name,
                               _("The input channelIds holds %(value)s, which is not a scheme "
                                 "id.") % {"value": json.dumps(item, ensure_ascii=False)})
        text = str(item).strip().strip('"').strip()
        if not text:
            continue
        pk = parse_id(text)
        if pk is None:
            raise InputProblem(Code.INVALID_INPUT, name,
                               _("The input channelIds holds “%(value)s”, which is not a scheme id "
                                 "(digits only).") % {"value": text[:40]})
        if pk not in ids:
            ids.append(pk)
    if len(ids) > MAX_SCHEMES:
        raise InputProblem(Code.INVALID_INPUT, name,
                           _("The input channelIds names more than %(max)d schemes.")
                           % {"max": MAX_SCHEMES})
    return ids


def creator_matches(request, creator_id):
    """The OA may name the creator by login id or by its own person id."""
    known = {request.creator}
    person = request.creator_person
    if person is not None:
        known |= {person.login_id, person.external_id}
    return creator_id in {k for k in known if k}


def resolve(inputs):
    """(workflow, request, schemes) for valid inputs, or InputProblem (the first found; for
    schemes, every bad id is named)."""
    if not isinstance(inputs, dict):
        raise InputProblem(Code.INVALID_INPUT, "non_field_errors",
                           _("The inputs must be an object of named values."))
    workflow_id = text_input(inputs, "workflowId")
    request_id = text_input(inputs, "requestId")
    creator_id = text_input(inputs, "creatorId")
    ids = scheme_ids(inputs.get("channelIds"))

    workflow = Workflow.objects.filter(workflow_id=workflow_id).first()
    if workflow is None:
        raise InputProblem(Code.UNKNOWN_WORKFLOW, "workflowId",
                           _("workflowId: there is no workflow “%(id)s” in the catalog.")
                           % {"id": workflow_id})
    request = Request.objects.select_related("creator_person").filter(
        request_id=request_id).first()
    if request is None:
        raise InputProblem(Code.UNKNOWN_REQUEST, "requestId",
                           _("requestId: there is no request “%(id)s”.") % {"id": request_id})
    if request.workflow_id != workflow.pk and request.workflow_ref != workflow.workflow_id:
        raise InputProblem(Code.REQUEST_NOT_OF_WORKFLOW, "requestId",
                           _("requestId: request “%(request)s” is not of workflow “%(workflow)s”.")
                           % {"request": request_id, "workflow": workflow_id})
    if not creator_matches(request, creator_id):
        raise InputProblem(Code.CREATOR_MISMATCH, "creatorId",
                           _("creatorId: “%(creator)s” did not create request “%(request)s”.")
                           % {"creator": creator_id, "request": request_id})

    found = ArchiveScheme.objects.select_related("workflow", "target")
    if not ids:
        schemes = list(found.filter(workflow=workflow, enabled=True,
                                    trigger=SchemeTrigger.FLOW).order_by("id"))
        if not schemes:
            raise InputProblem(Code.NO_SCHEME, "channelIds",
                               _("channelIds: workflow “%(id)s” has no enabled archive scheme "
                                 "with the flow trigger.") % {"id": workflow_id})
        return workflow, request, schemes
    by_id = found.in_bulk(ids)
    problems = []
    for scheme_id in ids:
        scheme = by_id.get(scheme_id)
        if scheme is None:
            problems.append((Code.UNKNOWN_SCHEME, _("there is no archive scheme %(id)s")
                             % {"id": scheme_id}))
        elif not scheme.enabled:
            problems.append((Code.SCHEME_DISABLED, _("archive scheme %(id)s is disabled")
                             % {"id": scheme_id}))
        elif scheme.workflow_id != workflow.pk:
            problems.append((Code.SCHEME_NOT_OF_WORKFLOW,
                             _("archive scheme %(id)s belongs to workflow “%(other)s”")
                             % {"id": scheme_id, "other": scheme.workflow.workflow_id}))
    if problems:
        raise InputProblem(problems[0][0], "channelIds",
                           _("channelIds: %(problems)s.")
                           % {"problems": "; ".join(str(text) for _code, text in problems)})
    return workflow, request, [by_id[i] for i in ids]


def archive_with_retries(scheme, request, trigger, operator):
    entry = export(scheme, request, trigger, operator=operator)
    retries, pause = conf.get("ARCHIVE_ACTION_RETRIES"), conf.get("ARCHIVE_ACTION_RETRY_SECONDS")
    for attempt in range(retries):
        if entry.outcome == Outcome.SUCCESS or entry.permanent:
            break
        time.sleep(pause * 2 ** attempt)
        entry = export(scheme, request, trigger, operator=operator, entry=entry)
    return entry


def scheme_result(scheme, entry):
    if entry.outcome == Outcome.SUCCESS:
        code = Code.OK
    else:
        code = Code.ARCHIVE_FAILED if entry.permanent else Code.ARCHIVE_TRANSIENT
    return {"schemeId": str(scheme.pk), "schemeName": scheme.name,
            "status": entry.outcome == Outcome.SUCCESS, "code": code, "msg": entry.message,
            "logId": str(entry.pk), "checksum": entry.checksum, "size": entry.size,
            "location": entry.location}


def archive_request(inputs, trigger=LogTrigger.FLOW, operator=""):
    try:
        _workflow, request, schemes = resolve(inputs)
    except InputProblem as problem:
        return answer(problem.code, problem.message, errors={problem.name: [problem.message]})
    data = [scheme_result(scheme, archive_with_retries(scheme, request, trigger, operator))
            for scheme in schemes]
    failed = [item for item in data if not item["status"]]
    if not failed:
        return answer(Code.OK, _("Request %(request)s archived with %(n)d scheme(s).")
                      % {"request": request.request_id, "n": len(data)}, True, data)
    code = (Code.ARCHIVE_TRANSIENT if all(i["code"] == Code.ARCHIVE_TRANSIENT for i in failed)
            else Code.ARCHIVE_FAILED)
    details = "; ".join(f"{i['schemeName']} ({i['schemeId']}): {i['msg']}" for i in failed)
    return answer(code, _("%(failed)d of %(n)d scheme(s) failed: %(details)s")
                  % {"failed": len(failed), "n": len(data), "details": details}, False, data)


@register
class ArchiveAction(Action):
    group = GROUP
    version = VERSION
    label = gettext_lazy("Archive a workflow request (档案集成)")
    description = gettext_lazy(
        "Exports the request's current form data and sign opinions with the archive schemes "
        "of its workflow (all enabled schemes with the flow trigger, or those channelIds "
        "names) and hands each package to the scheme's target.")
    inputs = (
        Param("workflowId", gettext_lazy("workflow id"), TEXT, True,
              gettext_lazy("Required. The workflow (the schemes' workflow path).")),
        Param("requestId", gettext_lazy("request id"), TEXT, True,
              gettext_lazy("Required. The workflow request to archive.")),
        Param("creatorId", gettext_lazy("request creator id"), TEXT, True,
              gettext_lazy("Required. The request's creator (login id or OA person id).")),
        Param("channelIds", gettext_lazy("archive scheme ids"), TEXT, False,
              gettext_lazy("Optional. Empty: every enabled scheme of the workflow with the flow "
                           "trigger. Otherwise scheme ids, e.g. [\"831746869586460686\","
                           "\"830697806837481486\"] or ids separated by commas.")),
    )
    outputs = (
        Param("code", gettext_lazy("status code"), TEXT),
        Param("msg", gettext_lazy("message"), TEXT),
        Param("status", gettext_lazy("status"), BOOLEAN),
        Param("data", gettext_lazy("data"), JSON),
    )

    def run(self, inputs, context):
        trigger = LogTrigger.API if context.source == "api" else LogTrigger.FLOW
        operator = context.operator or (
            f"flow {context.flow_id} run {context.run_id}" if context.run_id else "")
        try:
            result = archive_request(inputs, trigger, operator)
        except Exception as exc:  # the Action answers; a flow branches on status
            log.exception("intias_wf failed unexpectedly")
            return answer(Code.INTERNAL_ERROR, _("Unexpected error: %(error)s") % {"error": exc})
        result.pop("errors", None)
        return result
