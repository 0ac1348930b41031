"""What starts action flows: workflow events, date fields, schedules.

Workflow trigger: a receiver of `workflow_events_accepted` (inside the inbox transaction, so a
run exists exactly when its event does) starts the enabled flows of the event's workflow,
node and moment. "After" runs go to workers; "before" runs are executed by the request that
delivered the event, within each flow's time limit, and their outcome is part of the answer to
the OA (`answer_before_flows`), so the OA can stop the node and show the message.

Date-field trigger: every FLOW_DATE_TRIGGER_SECONDS beat asks `fire_date_triggers()` for the
records whose date plus the flow's delay has passed and which still match its filter, and not
yet fired. A record fires a flow once: a TriggerMark (unique per flow and record) is written
with the run in one transaction, so concurrent beats or workers, restarts and re-runs never
fire it twice.

Schedule trigger: a django-celery-beat task per flow (actionflow.schedules).
"""
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from integration.models import Request, TodoItem

from . import engine
from .models import ActionFlow, FlowRun, TriggerMark

log = logging.getLogger(__name__)

Trigger = ActionFlow.Trigger
FORM_PREFIX = "form_data."

# Record fields a date-field flow may filter on: our name → ORM path, per record kind.
FILTER_FIELDS = {
    ActionFlow.RecordKind.REQUEST: {
        "request_id": "request_id", "title": "title", "workflow_id": "workflow_ref",
        "creator": "creator", "current_node": "current_node", "status": "status",
    },
    ActionFlow.RecordKind.TODO_ITEM: {
        "receiver": "receiver", "identity": "identity", "data_set": "data_set",
        "business_status": "business_status", "node_name": "node_name", "viewed": "viewed",
        "request_id": "request__request_id", "title": "request__title",
        "workflow_id": "request__workflow_ref", "creator": "request__creator",
        "request_status": "request__status",
    },
}
FORM_PATH = {ActionFlow.RecordKind.REQUEST: "form_data",
             ActionFlow.RecordKind.TODO_ITEM: "request__form_data"}
DATE_FIELDS = ("created_at", "last_event_at")
LOOKUPS = {"equals": "exact", "contains": "icontains", "greater": "gt",
           "greater_or_equal": "gte", "less": "lt", "less_or_equal": "lte"}
NEGATED = {"not_equals": "exact", "not_contains": "icontains"}
FILTER_OPERATORS = (*LOOKUPS, *NEGATED, "empty", "not_empty", "is_true", "is_false")


# -- checks --------------------------------------------------------------------------------
def check_trigger(flow) -> dict:
    """Field → message for trigger settings the flow cannot run with; empty when fine."""
    errors = {}
    if flow.trigger == Trigger.WORKFLOW:
        if not flow.workflow_id:
            errors["workflow"] = _("A workflow trigger needs the workflow.")
        if not flow.moment:
            errors["moment"] = _("Say whether the flow runs before or after the node.")
    elif flow.trigger == Trigger.DATE_FIELD:
        if not flow.record_kind:
            errors["record_kind"] = _("Choose the records whose date is watched.")
        else:
            message = _date_field_error(flow.record_kind, flow.date_field)
            if message:
                errors["date_field"] = message
            message = filter_error(flow.record_kind, flow.record_filter) or value_error(
                flow.record_kind, flow.record_filter)
            if message:
                errors["record_filter"] = message
    elif flow.trigger == Trigger.SCHEDULE:
        from pushconfig.cron import CronError, parse

        if not (flow.cron or "").strip():
            errors["cron"] = _("A schedule trigger needs a cron expression.")
        else:
            try:
                parse(flow.cron)
            except CronError as exc:
                errors["cron"] = str(exc)
    return errors


def _form_key_error(key):
    if not key or "__" in key or "." in key or len(key) > 100:
        return _("Name one form field after “form_data.” (no dots or double underscores).")
    return ""


def _date_field_error(kind, field):
    field = (field or "").strip()
    if field in DATE_FIELDS:
        return ""
    if field.startswith(FORM_PREFIX) and kind == ActionFlow.RecordKind.REQUEST:
        return _form_key_error(field[len(FORM_PREFIX):])
    choices = ", ".join(DATE_FIELDS) + (
        ", form_data.<field>" if kind == ActionFlow.RecordKind.REQUEST else "")
    return _("Use one of: %(choices)s.") % {"choices": choices}


def filter_error(kind, conditions):
    if not isinstance(conditions, list):
        return _("The filter is a list of conditions.")
    allowed = FILTER_FIELDS.get(kind, {})
    for index, condition in enumerate(conditions, start=1):
        if not isinstance(condition, dict):
            return _("Condition %(n)d is not an object.") % {"n": index}
        field = str(condition.get("field") or "")
        if field.startswith(FORM_PREFIX):
            message = _form_key_error(field[len(FORM_PREFIX):])
            if message:
                return _("Condition %(n)d: %(message)s") % {"n": index, "message": message}
        elif field not in allowed:
            return _("Condition %(n)d: “%(field)s” cannot be filtered on; use one of "
                     "%(fields)s or form_data.<field>.") % {
                "n": index, "field": field, "fields": ", ".join(allowed)}
        if condition.get("operator") not in FILTER_OPERATORS:
            return _("Condition %(n)d: the operator must be one of %(ops)s.") % {
                "n": index, "ops": ", ".join(FILTER_OPERATORS)}
        if condition.get("operator") in (*LOOKUPS, *NEGATED) and "value" not in condition:
            return _("Condition %(n)d needs a value.") % {"n": index}
    return ""


def value_error(kind, conditions):
    """A condition whose value the field cannot hold ("abc" for `viewed`) is refused when the
    flow is saved, not found by every date-trigger pass."""
    from django.core.exceptions import ValidationError

    model = Request if kind == ActionFlow.RecordKind.REQUEST else TodoItem
    for index, condition in enumerate(conditions or [], start=1):
        try:
            model.objects.filter(_condition_q(kind, condition))
        except (ValidationError, ValueError, TypeError) as exc:
            detail = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            return _("Condition %(n)d: the value does not suit “%(field)s”: %(detail)s") % {
                "n": index, "field": condition.get("field"), "detail": detail}
    return ""


# -- workflow trigger ----------------------------------------------------------------------
def request_record(request):
    return {"request_id": request.request_id, "title": request.title,
            "workflow_id": request.workflow_ref, "creator": request.creator,
            "current_node": request.current_node, "status": request.status,
            "form_data": request.form_data, "sign_opinions": request.sign_opinions,
            "created_at": request.created_at, "last_event_at": request.last_event_at}


def on_workflow_events(sender, events, requests, **kwargs):
    """Start the flows the accepted events trigger (in the inbox transaction)."""
    applied = [e for e in events if e.applied]
    if not applied:
        return
    flows = list(ActionFlow.objects.filter(
        enabled=True, trigger=Trigger.WORKFLOW, version__gt=0,
        workflow__workflow_id__in={e.workflow_id for e in applied},
    ).select_related("workflow"))
    if not flows:
        return
    versions = {f.pk: f.current_version() for f in flows}
    for event in applied:
        for flow in flows:
            if (flow.workflow.workflow_id != event.workflow_id or flow.moment != event.moment
                    or (flow.node_name and flow.node_name != (event.payload or {}).get("node_name"))):
                continue
            data = dict(event.payload or {})
            request = requests.get(event.request_id)
            if request is not None:
                data["record"] = request_record(request)
            engine.start(flow, FlowRun.Trigger.WORKFLOW, data, version=versions[flow.pk],
                         inline=event.moment == "before", event_id=event.event_id)


def answer_before_flows(event_ids):
    """Execute the "before" runs of these events here, each within its flow's time limit;
    returns {event_id: {"flows": [...], "proceed": bool}} for the answer to the OA."""
    runs = list(FlowRun.objects.filter(event_id__in=event_ids, inline=True,
                                       trigger=FlowRun.Trigger.WORKFLOW)
                .select_related("flow").order_by("id"))
    answers = {}
    # One budget for the whole call, however many events and flows it holds: the OA waits
    # at most the longest time limit among them.
    budget_ends = time.monotonic() + max((r.flow.before_timeout for r in runs), default=0)
    for run in runs:
        if run.status == FlowRun.Status.QUEUED:
            ran = engine.execute(run.pk, deadline=min(budget_ends,
                                                      time.monotonic() + run.flow.before_timeout))
            run = ran or FlowRun.objects.select_related("flow").get(pk=run.pk)
        finished = run.status in FlowRun.FINISHED
        blocks = (run.status == FlowRun.Status.FAILED
                  or (not finished and run.flow.block_on_timeout))
        entry = answers.setdefault(run.event_id, {"flows": [], "proceed": True})
        entry["flows"].append({
            "flow": run.flow_id, "name": run.flow.name, "run": run.pk,
            "status": run.status if finished else "timeout",
            "message": run.message if finished else _(
                "The flow did not finish within %(n)d seconds; it goes on on a worker.")
            % {"n": run.flow.before_timeout},
        })
        entry["proceed"] = entry["proceed"] and not blocks
    return answers


def on_workflow_answer(sender, event_ids, **kwargs):
    return answer_before_flows(event_ids)


# -- date-field trigger --------------------------------------------------------------------
def _delay(flow):
    return timedelta(**{flow.delay_unit or "days": flow.delay_amount})


def _condition_q(kind, condition):
    field = condition["field"]
    if field.startswith(FORM_PREFIX):
        path = f"{FORM_PATH[kind]}__{field[len(FORM_PREFIX):]}"
    else:
        path = FILTER_FIELDS[kind][field]
    operator, value = condition["operator"], condition.get("value")
    if operator in LOOKUPS:
        return Q(**{f"{path}__{LOOKUPS[operator]}": value})
    if operator in NEGATED:
        return ~Q(**{f"{path}__{NEGATED[operator]}": value})
    empty = Q(**{f"{path}__isnull": True}) | Q(**{path: ""})
    if operator == "empty":
        return empty
    if operator == "not_empty":
        return ~empty
    return Q(**{path: operator == "is_true"})


def due_records(flow, now=None, limit=None):
    """The flow's records that are due and not fired yet, oldest first."""
    now = now or timezone.now()
    kind = flow.record_kind
    cutoff = now - _delay(flow)
    queryset = (Request.objects.all() if kind == ActionFlow.RecordKind.REQUEST
                else TodoItem.objects.select_related("request"))
    if flow.workflow_id:
        path = "workflow_ref" if kind == ActionFlow.RecordKind.REQUEST else "request__workflow_ref"
        queryset = queryset.filter(**{path: flow.workflow.workflow_id})
    field = flow.date_field.strip()
    if field.startswith(FORM_PREFIX):
        # Form dates are text; "yyyy-MM-dd HH:mm:ss" and ISO 8601 sort like the times they
        # are, so one text comparison selects them (a "T" on the cutoff day sorts late: such a
        # record fires on the next pass after midnight rather than early).
        queryset = queryset.annotate(_due=Cast(KeyTextTransform(field[len(FORM_PREFIX):],
                                                                "form_data"), CharField()))
        queryset = queryset.filter(_due__regex=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}",
                                   _due__lte=timezone.localtime(cutoff).strftime(
                                       "%Y-%m-%d %H:%M:%S"))
        order = "_due"
    else:
        queryset = queryset.filter(**{f"{field}__isnull": False, f"{field}__lte": cutoff})
        order = field
    for condition in flow.record_filter or []:
        queryset = queryset.filter(_condition_q(kind, condition))
    marked = TriggerMark.objects.filter(flow=flow, key=Concat(
        Value(f"{kind}:"), Cast(OuterRef("pk"), CharField()), output_field=CharField()))
    queryset = queryset.filter(~Exists(marked)).order_by(order, "pk")
    return queryset[:limit] if limit else queryset


def record_data(kind, record):
    if kind == ActionFlow.RecordKind.REQUEST:
        return {"id": record.pk, **request_record(record)}
    request = record.request
    return {"id": record.pk, "request_id": request.request_id, "title": request.title,
            "workflow_id": request.workflow_ref, "creator": request.creator,
            "request_status": request.status, "form_data": request.form_data,
            "receiver": record.receiver, "identity": record.identity,
            "data_set": record.data_set, "business_status": record.business_status,
            "node_name": record.node_name, "viewed": record.viewed,
            "created_at": record.created_at, "last_event_at": record.last_event_at}


def fire_date_flow(flow, now=None, limit=None):
    """Start one run per due record of `flow`; returns how many started here."""
    now = now or timezone.now()
    version = flow.current_version()
    if version is None:
        return 0
    started = 0
    limit = limit or settings.FLOW_DATE_TRIGGER_BATCH
    for record in due_records(flow, now, limit):
        run = fire_once(flow, f"{flow.record_kind}:{record.pk}", FlowRun.Trigger.DATE_FIELD, {
            "record_kind": flow.record_kind, "date_field": flow.date_field,
            "record": record_data(flow.record_kind, record)}, version=version)
        started += run is not None
    return started


def fire_once(flow, key, trigger, input_data, **start_options):
    """Start a run of `flow` unless one was started for `key` before: the mark and the run are
    written together, and a key marked already (another process, a redelivered task) gives
    None."""
    try:
        with transaction.atomic():
            mark = TriggerMark.objects.create(flow=flow, key=key)
            run = engine.start(flow, trigger, input_data, **start_options)
            TriggerMark.objects.filter(pk=mark.pk).update(run=run)
            return run
    except IntegrityError:
        return None


def fire_date_triggers(now=None):
    """One pass over every enabled date-field flow; returns the number of runs started."""
    flows = ActionFlow.objects.filter(enabled=True, trigger=Trigger.DATE_FIELD,
                                      version__gt=0).select_related("workflow")
    started = 0
    for flow in flows.order_by("pk"):
        try:
            started += fire_date_flow(flow, now)
        except Exception:  # one flow's trouble must not keep the others from firing
            log.exception("date trigger of action flow %s failed", flow.pk)
    return started


def run_scheduled(flow_id, now=None):
    """One run per tick (minute) of the flow's schedule, however often the beat task is
    delivered (a second beat, a redelivered task): the tick is marked with the run."""
    flow = ActionFlow.objects.filter(pk=flow_id, enabled=True, trigger=Trigger.SCHEDULE).first()
    if flow is None or flow.current_version() is None:
        return None
    now = now or timezone.now()
    return fire_once(flow, "schedule:" + timezone.localtime(now).strftime("%Y-%m-%dT%H:%M"),
                     FlowRun.Trigger.SCHEDULE, {"fired_at": now})
