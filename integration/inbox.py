"""The event inbox: turns validated events into stored state, in one transaction per call.

For each call: duplicates (by event_id) are reported and change nothing; the rest update
requests and todo items with bulk queries, are stored as InboundEvent rows (the audit trail),
and are announced with a signal inside the same transaction. Rows about to change are locked
(SELECT ... FOR UPDATE, in id order, so two calls never deadlock). Two calls carrying the same
request take turns before either reads anything (`_claim_requests`), so the second sees what
the first stored; where they cannot (an import of many requests, SQLite), a concurrent insert
of the same request, event or item surfaces as an IntegrityError and the whole call is
retried, when the other call's rows are visible.

State only moves forward in time: an event older than the state already held is kept in the
audit trail, flagged out_of_order, and does not overwrite the newer state.
"""
import zlib
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction

from .bulk import bulk_insert, instance, update_rows
from .models import InboundEvent, PartTimeIdentity, Person, Request, TodoItem, Workflow
from .signals import todo_events_accepted, workflow_events_accepted
from .vocabulary import DataSet, EventFlag, RequestStatus

ACCEPTED, DUPLICATE, INVALID = "accepted", "duplicate", "invalid"
_RETRIES = 3
# Calls of at most this many requests take turns by request (see _claim_requests): each
# turn holds a slot of PostgreSQL's shared lock table (64 per connection by default).
CLAIM_LIMIT = 64
_CLAIM_SPACE = 0x496E62  # the advisory locks' first key: "Inb"


@dataclass
class Outcome:
    index: int
    event_id: str | None
    outcome: str
    flags: list = field(default_factory=list)
    errors: dict | None = None

    def as_dict(self):
        data = {"index": self.index, "event_id": self.event_id, "outcome": self.outcome}
        if self.flags:
            data["flags"] = self.flags
        if self.errors is not None:
            data["errors"] = self.errors
        return data


def _retrying(func):
    def wrapper(*args, **kwargs):
        for attempt in range(_RETRIES):
            try:
                with transaction.atomic():
                    return func(*args, **kwargs)
            except IntegrityError:
                if attempt == _RETRIES - 1:
                    raise
    return wrapper


def _claim_requests(events):
    """Make calls that carry the same request take turns, before either reads anything: one
    advisory lock per request name, held to the end of the transaction, taken in one order
    and before any row lock, so it cannot deadlock. Without it, two calls bringing events of
    a request new to both (an OA sends a new request's receivers as they come) both wrote
    it: the second waited at its insert for the first to commit, failed, and did the whole
    call again — a tenth of the calls under a steady 200 events/s on a slow machine. Now it
    waits at the start and finds the request (and any repeated event) stored. Calls of more
    than CLAIM_LIMIT requests (imports) keep the retry; so does SQLite, which writes one
    transaction at a time anyway."""
    names = {event.get("request_id") for _, event in events} - {None}
    if connection.vendor != "postgresql" or not names or len(names) > CLAIM_LIMIT:
        return
    # 31 bits of crc32 fit the lock's int4 key; sorted: the same order in every call.
    keys = sorted({zlib.crc32(name.encode()) >> 1 for name in names})
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_advisory_xact_lock(%s, k)) FROM unnest(%s::int[]) AS k",
                       [_CLAIM_SPACE, keys])


def _split_duplicates(indexed_events, force=False):
    """Return (fresh, duplicate outcomes): repeats of a stored event and repeats within the call."""
    ids = [event["event_id"] for _, event in indexed_events]
    stored = set() if force else set(
        InboundEvent.objects.filter(event_id__any_of=ids).values_list("event_id", flat=True)
    )
    fresh, duplicates, seen = [], [], set()
    for index, event in indexed_events:
        if event["event_id"] in stored or event["event_id"] in seen:
            duplicates.append(Outcome(index, event["event_id"], DUPLICATE))
        else:
            seen.add(event["event_id"])
            fresh.append((index, event))
    return fresh, duplicates


class _Directory:
    """The directory and catalog lookups one call needs, each done in one query."""

    def __init__(self, events):
        logins = {e.get(k) for e in events for k in ("receiver", "creator") if e.get(k)}
        self.persons = dict(Person.objects.filter(login_id__any_of=logins).values_list("login_id", "id"))
        wf_ids = {e["workflow_id"] for e in events if e.get("workflow_id")}
        self.workflows = dict(
            Workflow.objects.filter(workflow_id__any_of=wf_ids).values_list("workflow_id", "id")
        )
        identities = {e["identity"] for e in events if e.get("identity")}
        self.identities = set(
            PartTimeIdentity.objects.filter(external_id__any_of=identities)
            .values_list("external_id", flat=True)
        )

    def flags(self, event):
        flags = []
        if event.get("receiver") and event["receiver"] not in self.persons:
            flags.append(EventFlag.UNKNOWN_RECEIVER.value)
        if event.get("creator") and event["creator"] not in self.persons:
            flags.append(EventFlag.UNKNOWN_CREATOR.value)
        if event.get("workflow_id") and event["workflow_id"] not in self.workflows:
            flags.append(EventFlag.UNKNOWN_WORKFLOW.value)
        if event.get("identity") and event["identity"] not in self.identities:
            flags.append(EventFlag.UNKNOWN_IDENTITY.value)
        return flags


def _lock_requests(request_ids):
    return {
        r.request_id: r
        for r in Request.objects.select_for_update().filter(request_id__any_of=request_ids).order_by("id")
    }


def _apply_to_request(request, event, directory, changed):
    """Fill a request from an event. Descriptive fields follow the newest event; a field the
    event leaves empty never blanks what is known."""
    newer = request.last_event_at is None or event["occurred_at"] >= request.last_event_at
    if request.pk:
        changed.add(request.request_id)
    for attr, key in (("title", "request_title"), ("workflow_ref", "workflow_id"),
                      ("creator", "creator")):
        if event.get(key) and (newer or not getattr(request, attr)):
            setattr(request, attr, event[key])
    request.workflow_id = directory.workflows.get(request.workflow_ref, request.workflow_id)
    request.creator_person_id = directory.persons.get(request.creator, request.creator_person_id)
    if request.created_at is None:
        request.created_at = event.get("created_at") or event["occurred_at"]
    if newer:
        request.last_event_at = event["occurred_at"]
    return newer


def _save_requests(requests, new_ids, changed_ids, fields):
    new = [requests[rid] for rid in new_ids]
    bulk_insert(Request, new)
    # bulk_create sets pks on PostgreSQL and SQLite; re-read for any backend that does not.
    if new and new[0].pk is None:
        saved = Request.objects.in_bulk([r.request_id for r in new], field_name="request_id")
        for r in new:
            r.pk = saved[r.request_id].pk
    existing = [requests[rid] for rid in changed_ids if rid not in new_ids]
    update_rows(Request, existing, fields)


_REQUEST_FIELDS = ["title", "workflow_ref", "workflow", "creator", "creator_person", "created_at",
                   "current_node", "status", "last_event_at"]


@_retrying
def ingest_todo_events(indexed_events, source="api", force=False):
    """Store validated todo events. `indexed_events` is a list of (index, validated data).
    `force` (replays) skips the duplicate check; replayed events carry fresh event ids."""
    _claim_requests(indexed_events)
    fresh, outcomes = _split_duplicates(indexed_events, force)
    if not fresh:
        return outcomes
    fresh.sort(key=lambda pair: pair[1]["occurred_at"])  # apply in the order things happened
    events = [event for _, event in fresh]
    directory = _Directory(events)

    request_ids = {e["request_id"] for e in events}
    requests = _lock_requests(request_ids)
    new_request_ids = request_ids - requests.keys()
    for rid in new_request_ids:
        requests[rid] = instance(Request, request_id=rid)

    pk_to_rid = {r.pk: rid for rid, r in requests.items() if r.pk}
    existing_items = TodoItem.objects.select_for_update().filter(
        request_id__any_of=pk_to_rid.keys(), receiver__any_of={e["receiver"] for e in events}
    ).order_by("id")
    items = {(pk_to_rid[i.request_id], i.receiver, i.identity): i for i in existing_items}

    changed_requests, new_items, changed_items = set(), {}, {}
    rows, touched = [], {}
    for index, event in fresh:
        flags = directory.flags(event)
        request = requests[event["request_id"]]
        newer = _apply_to_request(request, event, directory, changed_requests)
        if newer and event.get("node_name"):
            request.current_node = event["node_name"]
        if event["data_set"] == DataSet.OVER and newer:
            request.status = RequestStatus.FINISHED

        key = (event["request_id"], event["receiver"], event.get("identity", ""))
        item = items.get(key)
        if item is None:
            item = items[key] = instance(TodoItem, receiver=key[1], identity=key[2])
            new_items[key] = item
        elif key not in new_items:
            changed_items[key] = item
        applied = item.last_event_at is None or event["occurred_at"] >= item.last_event_at
        if applied:
            _apply_to_item(item, event, directory)
        else:
            flags.append(EventFlag.OUT_OF_ORDER.value)
        touched[event["event_id"]] = (key, request)
        rows.append(_event_row(InboundEvent.Kind.TODO, event, source, flags, applied))
        outcomes.append(Outcome(index, event["event_id"], ACCEPTED, flags))

    _save_requests(requests, new_request_ids, changed_requests, _REQUEST_FIELDS)
    for key, item in items.items():
        item.request = requests[key[0]]
    bulk_insert(TodoItem, list(new_items.values()))
    update_rows(TodoItem, list(changed_items.values()), _ITEM_FIELDS)
    _mark_deleted_requests({requests[e["request_id"]] for e in events
                            if e["data_set"] == DataSet.DELETE})
    saved = bulk_insert(InboundEvent, rows)
    todo_events_accepted.send(
        sender=InboundEvent, events=saved,
        todo_items={eid: items[key] for eid, (key, _) in touched.items()},
    )
    outcomes.sort(key=lambda o: o.index)
    return outcomes


def _mark_deleted_requests(candidates):
    """A request whose every item is deleted is itself deleted (the OA deleted the instance)."""
    if not candidates:
        return
    # order_by(): the items' default ordering would join the DISTINCT (a row per item).
    alive = set(TodoItem.objects.filter(request__in=candidates).exclude(data_set=DataSet.DELETE)
                .order_by().values_list("request_id", flat=True).distinct())
    gone = [r.pk for r in candidates if r.pk not in alive and r.status != RequestStatus.DELETED]
    Request.objects.filter(pk__in=gone).update(status=RequestStatus.DELETED)


_ITEM_FIELDS = ["receiver_person", "data_set", "business_status", "node_name", "viewed", "task_id",
                "created_at", "last_event_at", "last_event_id"]


def _apply_to_item(item, event, directory):
    item.receiver_person_id = directory.persons.get(item.receiver)
    item.data_set = event["data_set"]
    item.business_status = event["business_status"]
    if event.get("node_name"):
        item.node_name = event["node_name"]
    if event.get("task_id"):
        item.task_id = event["task_id"]
    item.viewed = event.get("viewed", False)
    if item.created_at is None:
        item.created_at = event.get("created_at") or event["occurred_at"]
    item.last_event_at = event["occurred_at"]
    item.last_event_id = event["event_id"]


def _event_row(kind, event, source, flags, applied):
    return instance(
        InboundEvent, event_id=event["event_id"], kind=kind, source=source,
        request_id=event["request_id"],
        data_set=event.get("data_set", ""), business_status=event.get("business_status", ""),
        moment=event.get("moment", ""), receiver=event.get("receiver", ""),
        workflow_id=event.get("workflow_id", ""), occurred_at=event["occurred_at"],
        applied=applied, flags=flags, flagged=bool(flags), payload=_jsonable(event),
    )


def _jsonable(event):
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in event.items()}


@_retrying
def ingest_workflow_events(indexed_events, source="api", force=False):
    """Store validated workflow events: a request reaching (before) or leaving (after) a node,
    with the form data and sign opinions as they stand at that moment."""
    _claim_requests(indexed_events)
    fresh, outcomes = _split_duplicates(indexed_events, force)
    if not fresh:
        return outcomes
    fresh.sort(key=lambda pair: pair[1]["occurred_at"])
    events = [event for _, event in fresh]
    directory = _Directory(events)
    request_ids = {e["request_id"] for e in events}
    requests = _lock_requests(request_ids)
    new_request_ids = request_ids - requests.keys()
    for rid in new_request_ids:
        requests[rid] = instance(Request, request_id=rid)

    changed, rows = set(), []
    for index, event in fresh:
        flags = directory.flags(event)
        request = requests[event["request_id"]]
        newer = _apply_to_request(request, event, directory, changed)
        if newer:
            request.current_node = event["node_name"]
            if "form_data" in event:
                request.form_data = event["form_data"]
            if "sign_opinions" in event:
                request.sign_opinions = event["sign_opinions"]
            if event.get("status"):
                request.status = event["status"]
        else:
            flags.append(EventFlag.OUT_OF_ORDER.value)
        rows.append(_event_row(InboundEvent.Kind.WORKFLOW, event, source, flags, newer))
        outcomes.append(Outcome(index, event["event_id"], ACCEPTED, flags))

    _save_requests(requests, new_request_ids, changed,
                   _REQUEST_FIELDS + ["form_data", "sign_opinions"])
    saved = bulk_insert(InboundEvent, rows)
    workflow_events_accepted.send(sender=InboundEvent, events=saved, requests=requests)
    outcomes.sort(key=lambda o: o.index)
    return outcomes
