"""From a verified callback to inbox events: how the platform's five task actions become the
TodoEventSerializer-shaped events every other door of the inbox produces.

The mapping (README, "Approval-task callbacks", says the same for administrators):

create  todo / arrive, one event per approver of the task JSON
cc      todo / cc, same task JSON as create
        request_id     task.formInstanceId (the id the other actions call formInstId);
                       task.processInstanceId when formInstanceId is absent or empty
        receiver       task.actionerId: one user id, or a list of them (the platform's OpenAPI
                       types the same field as string[]); else task.actionExecutorId, the name
                       its task-copy API gives that list. A task naming nobody, like the seed's
                       own sample (actionerId and currentActivityInstances null: the
                       originator's "created by me" entry, before anyone has to act), is
                       accepted and logged but makes no todo item.
        request_title  task.title           creator     task.originatorId
        workflow_id    task.processCode     task_id     task.taskId, when present
        node_name      task.activityName, else the activityName of the current activity
                       instances (joined with " / " on parallel branches), else the title:
                       a todo must name a node and the title is what the approver recognises
        created_at     task.createTime (epoch ms)
        occurred_at    the dateTime parameter (epoch ms), for every action
finish  done / approve on formInstId, for the todo item that holds taskId when one is held (its
        receiver and identity: the actual worker may be a delegate of the approver); otherwise
        for actualWorkId
cancel  delete / cancel, the item found the same way
delete  delete / delete for every todo item held for formInstId (the platform sends it only when
        the instance itself is deleted); none held → accepted, no event

Event ids are deterministic: cb:<slug>:<action>:<md5 of the sorted parameters but sign>, plus
":<8 hex of receiver and identity>" for the actions that can make several events (create, cc,
delete), so the same callback twice is a duplicate. Replays append ":replay:<log id>:<n>".
Every event carries occurred_at = dateTime, so the inbox's time ordering keeps newer state
whatever arrives late or is replayed.
"""
import hashlib
import json
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers

from ..events import EventTimeField, TodoEventSerializer, check_json
from ..models import CallbackLog, TodoItem
from ..vocabulary import BusinessStatus, DataSet
from .errors import Refused
from .signature import sort_keys

ACTIONS = tuple(CallbackLog.Action.values)

# Parameters each action must carry (besides sign, checked with the signature).
REQUIRED = {
    "create": ("task", "dateTime"),
    "cc": ("task", "dateTime"),
    "finish": ("appType", "corpId", "taskId", "actualWorkId", "formInstId", "dateTime"),
    "cancel": ("appType", "corpId", "taskId", "actualWorkId", "formInstId", "dateTime"),
    "delete": ("appType", "corpId", "formInstId", "dateTime"),
}

# Which data set and business status each action produces.
OUTCOME = {
    "create": (DataSet.TODO, BusinessStatus.ARRIVE),
    "cc": (DataSet.TODO, BusinessStatus.CC),
    "finish": (DataSet.DONE, BusinessStatus.APPROVE),
    "cancel": (DataSet.DELETE, BusinessStatus.CANCEL),
    "delete": (DataSet.DELETE, BusinessStatus.DELETE),
}

# An event field's error is reported under the callback parameter it came from.
_TASK_NAMES = {
    "request_title": "task.title", "workflow_id": "task.processCode",
    "node_name": "task.activityName", "creator": "task.originatorId",
    "receiver": "task.actionerId", "task_id": "task.taskId", "created_at": "task.createTime",
    "occurred_at": "dateTime",
}
_FORM_NAMES = {"request_id": "formInstId", "receiver": "actualWorkId", "task_id": "taskId",
               "occurred_at": "dateTime"}
_MS = re.compile(r"[0-9]{1,16}")
_NODE_MAX = 200


@dataclass
class Built:
    request_id: str
    events: list = field(default_factory=list)  # [(index, validated event)]
    note: str = ""

    @property
    def event_ids(self):
        return [event["event_id"] for _, event in self.events]


def fingerprint(params: dict) -> str:
    """md5 of the parameters but sign, in the platform's key order: the same callback sent
    twice (form or JSON alike) has the same fingerprint."""
    pairs = [[key, params[key]] for key in sort_keys(params) if key != "sign"]
    canonical = json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))
    return hashlib.md5(canonical.encode("utf-8")).hexdigest()


def build_events(source, action, params, *, digest, suffix="", check_source=True) -> Built:
    """Validated events for one callback. Reads the todo items held (finish, cancel, delete)
    but writes nothing; raises Refused naming the parameter at fault."""
    missing = {key: _("This parameter is required.") for key in REQUIRED[action]
               if not params.get(key)}
    if missing:
        raise Refused(400, missing)
    _check_time(params["dateTime"])

    if action in ("create", "cc"):
        task = parse_task(params["task"])
        if check_source:
            check_restrictions(source, params, task)
        request_id, drafts, names, note = _from_task(action, task, params)
    else:
        if check_source:
            check_restrictions(source, params)
        request_id, names, note = params["formInstId"], _FORM_NAMES, ""
        drafts = _from_form(action, params)
        if not drafts:
            note = _("No todo item is held for this request: nothing to delete.")

    base = f"cb:{source.slug}:{action}:{digest}"
    events = []
    for index, draft in enumerate(drafts):
        key = ""
        if action in ("create", "cc", "delete"):
            who = f"{draft['receiver']}\x1f{draft.get('identity', '')}"
            key = ":" + hashlib.md5(who.encode("utf-8")).hexdigest()[:8]
        draft["event_id"] = base + key + suffix
        serializer = TodoEventSerializer(data=draft)
        if not serializer.is_valid():
            raise Refused(400, {names.get(name, name): messages
                                for name, messages in serializer.errors.items()})
        events.append((index, serializer.validated_data))
    return Built(request_id=str(request_id)[:64], events=events, note=note)


def _check_time(value):
    if not _MS.fullmatch(value):
        raise Refused(400, {"dateTime": _("Must be epoch milliseconds (digits only).")})
    try:
        EventTimeField().to_internal_value(value)
    except serializers.ValidationError as exc:
        raise Refused(400, {"dateTime": exc.detail}) from None


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def parse_task(text: str) -> dict:
    try:
        task = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise Refused(400, {"task": _("Must be a JSON object written as text; this is not valid "
                                      "JSON.")}) from None
    if not isinstance(task, dict):
        raise Refused(400, {"task": _("Must be a JSON object written as text.")})
    try:
        check_json(task)
    except serializers.ValidationError as exc:
        raise Refused(400, {"task": exc.detail}) from None
    return task


def check_restrictions(source, params, task=None):
    """A source tied to one app or one corporation refuses callbacks naming another, or none."""
    task = task or {}
    corp_in_task = [("task.corpId", task.get("corpId"))] if _given(task.get("corpId")) else \
        [("task.originatorCorpId", task.get("originatorCorpId"))]
    rules = (
        (source.app_type, "appType", [("appType", params.get("appType")),
                                      ("task.appType", task.get("appType"))]),
        (source.corp_id, "corpId", [("corpId", params.get("corpId")), *corp_in_task]),
    )
    errors = {}
    for expected, label, candidates in rules:
        if not expected:
            continue
        named = [(name, value) for name, value in candidates if _given(value)]
        if not named:
            errors[label] = _("This callback source accepts callbacks of one %(label)s only; "
                              "this callback names none.") % {"label": label}
        for name, value in named:
            if str(value) != expected:
                errors[name] = _("“%(value)s” is not the %(label)s of this callback source.") % {
                    "value": str(value)[:64], "label": label}
    if errors:
        raise Refused(400, errors)


def _given(value):
    return value is not None and value != ""


def _from_task(action, task, params):
    request_id = task.get("formInstanceId")
    names = dict(_TASK_NAMES, request_id="task.formInstanceId")
    if not _given(request_id) and _given(task.get("processInstanceId")):
        request_id = task.get("processInstanceId")
        names["request_id"] = "task.processInstanceId"
    if not _given(request_id):
        raise Refused(400, {"task.formInstanceId": _("The task names no form instance "
                                                     "(formInstanceId or processInstanceId).")})
    receivers, receiver_name = _receivers(task)
    names["receiver"] = receiver_name
    if not receivers:
        note = _("The task names no approver (actionerId): nobody has a todo.")
        return request_id, [], names, note

    data_set, status = OUTCOME[action]
    common = {
        "data_set": data_set, "business_status": status, "request_id": request_id,
        "occurred_at": params["dateTime"],
    }
    for key, source_key in (("request_title", "title"), ("workflow_id", "processCode"),
                            ("creator", "originatorId"), ("task_id", "taskId"),
                            ("created_at", "createTime")):
        if _given(task.get(source_key)):
            common[key] = task[source_key]
    node, node_name = _node_name(task)
    if node:
        common["node_name"] = node
        names["node_name"] = node_name
    return request_id, [{**common, "receiver": r} for r in receivers], names, ""


def _receivers(task):
    """The approvers of a task, in order, without repeats."""
    for key in ("actionerId", "actionExecutorId"):
        value = task.get(key)
        if not _given(value) or value == []:
            continue
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, bool) or not isinstance(v, str | int) or v == "" for v in values):
            raise Refused(400, {f"task.{key}": _("Must be a user id or a list of user ids.")})
        if len(values) > settings.INBOX_MAX_BATCH:
            raise Refused(400, {f"task.{key}": _("Too many approvers.")})
        return list(dict.fromkeys(values)), f"task.{key}"
    return [], "task.actionerId"


def _node_name(task):
    name = task.get("activityName")
    if isinstance(name, str) and name.strip():
        return name[:_NODE_MAX], "task.activityName"
    instances = task.get("currentActivityInstances")
    if isinstance(instances, list):
        names = [i.get("activityName") for i in instances if isinstance(i, dict)]
        names = list(dict.fromkeys(n for n in names if isinstance(n, str) and n.strip()))
        if names:
            return " / ".join(names)[:_NODE_MAX], "task.currentActivityInstances"
    title = task.get("title")
    if isinstance(title, str) and title.strip():
        return title[:_NODE_MAX], "task.title"
    return None, "task.activityName"


def _from_form(action, params):
    data_set, status = OUTCOME[action]
    request_id = params["formInstId"]
    common = {"data_set": data_set, "business_status": status, "request_id": request_id,
              "occurred_at": params["dateTime"]}
    held = TodoItem.objects.filter(request__request_id=request_id).order_by("id")
    if action == "delete":
        return [{**common, "receiver": receiver, "identity": identity}
                for receiver, identity in held.values_list("receiver", "identity")]
    task_id = params["taskId"]
    found = held.filter(task_id=task_id).values_list("receiver", "identity").first()
    receiver, identity = found or (params["actualWorkId"], "")
    return [{**common, "receiver": receiver, "identity": identity, "task_id": task_id}]
