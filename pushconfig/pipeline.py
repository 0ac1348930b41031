"""The push pipeline's first half, run inside the inbox transaction.

For each accepted todo event and each enabled config, in this order (seed 002):
1. interception — workflow-type group, workflow list, person list, business statuses;
2. duplicate filter (todo data set; off by default);
3. missing-todo compensation (done / over data sets; off by default);
then one push record is written per (event, config) — `intercepted`, `ignored` or `pending`
— plus a compensated todo before a done when rule 3 asks for one. Records are bulk-written in
the inbox's transaction (the outbox) and delivery is enqueued when it commits.

"Batch" in the seed's rules is one inbox call; "cache" is the config's push log: a todo
counts as sent when a todo record of the same (request, receiver, identity) is pending,
succeeded or failed.
"""
from collections import Counter

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integration.bulk import bulk_insert, instance
from integration.signals import todo_events_accepted
from integration.vocabulary import DataSet

from .delivery import enqueue_lanes, lane_of
from .facts import BatchFacts
from .models import PushConfig, PushRecord
from .vocabulary import BusinessInterception, Outcome, RecordKind, Scope

SENT = (Outcome.PENDING, Outcome.SUCCESS, Outcome.FAILED)
# The seed's own wording for the push log, kept as it is (seed 002, 重复数据过滤 rule a).
REASON_DUPLICATE = "特殊数据处理-重复数据过滤"
REASON_OUT_OF_ORDER = gettext_lazy("Older than the state already held (out of order): not pushed")


class Rules:
    """A config's interception lists as sets, built once per batch."""

    def __init__(self, config):
        self.config = config
        self.type_ids = {t.pk for t in config.intercepted_workflow_types.all()}
        self.workflow_ids = {w.pk for w in config.scope_workflows.all()}
        self.persons = {(r.kind, r.target) for r in config.person_rules.all()}
        self.everyone = any(kind == "everyone" for kind, _target in self.persons)


def intercepting_rule(rules, event, facts):
    """The rule that stops this event for this config, as text for the log, or None."""
    config = rules.config
    workflow = facts.workflows.get(event.workflow_id)
    if workflow and workflow.workflow_type_id in rules.type_ids:
        return _("workflow type group: %(type)s") % {"type": workflow.workflow_type.name}
    if config.workflow_scope != Scope.ALL:
        listed = workflow is not None and workflow.pk in rules.workflow_ids
        if config.workflow_scope == Scope.ALLOWLIST and not listed:
            return _("workflow not in the allowlist")
        if config.workflow_scope == Scope.DENYLIST and listed:
            return _("workflow in the denylist")
    if config.person_scope != Scope.ALL:
        matched = rules.everyone or bool(rules.persons & facts.org_entries(
            event.receiver, event.payload.get("identity", "")))
        if config.person_scope == Scope.ALLOWLIST and not matched:
            return _("receiver not in the person allowlist")
        if config.person_scope == Scope.DENYLIST and matched:
            return _("receiver in the person denylist")
    if config.business_interception == BusinessInterception.CUSTOM:
        if event.business_status in (config.intercepted_statuses or {}).get(event.data_set, []):
            return _("business status %(status)s of the %(data_set)s data set") % {
                "status": event.business_status, "data_set": event.data_set}
    return None


def _key(event):
    return (event.request_id, event.receiver, event.payload.get("identity", ""))


def sent_todo_keys(config, events):
    """Keys of this batch whose todo the config already sent in an earlier batch."""
    keys = {_key(e) for e in events}
    found = PushRecord.objects.filter(
        config=config, data_set=DataSet.TODO, outcome__in=SENT,
        request_id__any_of={k[0] for k in keys}, receiver__any_of={k[1] for k in keys},
    ).order_by().values_list("request_id", "receiver", "identity")
    return {k for k in found if k in keys}


def new_record(config, event, outcome=Outcome.PENDING, reason="", backfill=False):
    payload = dict(event.payload)
    key = f"{config.pk}:{event.event_id}"
    data_set, status = event.data_set, event.business_status
    if backfill:
        key += ":backfill"
        data_set, status = DataSet.TODO, "arrive"
        payload.update(data_set=data_set, business_status=status, viewed=False)
    request_id, receiver, identity = _key(event)
    return instance(
        PushRecord, config_id=config.pk, inbound_event_id=event.pk, event_id=event.event_id,
        idempotency_key=key, kind=RecordKind.BACKFILL if backfill else RecordKind.EVENT,
        lane=lane_of(request_id, receiver, identity), request_id=request_id,
        receiver=receiver, identity=identity, creator=payload.get("creator", ""),
        workflow_id=event.workflow_id, data_set=data_set, business_status=status,
        payload=payload, outcome=outcome, reason=str(reason),
    )


def plan(config, events, facts):
    """The records for one config and one batch of events (already in time order)."""
    records, passing, rules = [], [], Rules(config)
    for event in events:
        if not event.applied:
            # Older than the state the inbox holds (a late retry): pushing it would take the
            # target back in time, e.g. revive a todo that is done.
            records.append(new_record(config, event, Outcome.IGNORED, REASON_OUT_OF_ORDER))
            continue
        rule = intercepting_rule(rules, event, facts)
        if rule:
            records.append(new_record(config, event, Outcome.INTERCEPTED, rule))
        else:
            passing.append(event)
    sent_before = sent_todo_keys(config, passing) if (
        config.filter_duplicates or config.backfill_missing_todo) else set()
    # Rule c of the duplicate filter: a batch holding a done and todos of the same key sends
    # only its first todo; a batch of todos alone sends them all (rule b).
    closing_keys = {_key(e) for e in passing if e.data_set in (DataSet.DONE, DataSet.OVER)}
    todo_seen = set()
    for event in passing:
        key = _key(event)
        if event.data_set == DataSet.TODO and config.filter_duplicates:
            if key in sent_before or (key in closing_keys and key in todo_seen):
                records.append(new_record(config, event, Outcome.IGNORED, REASON_DUPLICATE))
                continue
            todo_seen.add(key)
        if (event.data_set in (DataSet.DONE, DataSet.OVER) and config.backfill_missing_todo
                and key not in sent_before):
            # Rules a-d of missing-todo compensation: judged against earlier batches only,
            # one compensated todo per done of this batch, pushed before it.
            records.append(new_record(config, event, backfill=True))
        records.append(new_record(config, event))
    return records


def plan_pushes(sender, events, **kwargs):
    configs = list(PushConfig.objects.filter(enabled=True).prefetch_related(
        "person_rules", "scope_workflows", "intercepted_workflow_types"))
    if not configs or not events:
        return
    facts = BatchFacts.of_events(events)
    records = [record for config in configs for record in plan(config, events, facts)]
    # COPY on PostgreSQL; nothing below needs the records' ids.
    bulk_insert(PushRecord, records, with_ids=False)
    # How many records each lane got: lanes with few share a task (delivery.enqueue_lanes).
    lanes = Counter((r.config_id, r.lane) for r in records if r.outcome == Outcome.PENDING)
    if lanes:
        transaction.on_commit(lambda: enqueue_lanes(lanes), robust=True)


def connect():
    todo_events_accepted.connect(plan_pushes, dispatch_uid="pushconfig.plan_pushes")
