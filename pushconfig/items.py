"""Turning push records into push items: our persons mapped to the target's user ids,
workflow names from the catalog, and the links each item carries (the OA's own, or those of
the push addresses bound to the config: see `pushconfig.addresses`)."""
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from integration.models import Person, Workflow

from .addresses import BoundAddresses
from .transports import Delivery, PushItem
from .vocabulary import PersonMapping


def build_items(config, records, addresses=None):
    """Returns (items, refused): refused maps a record id to a permanent failure when its
    person cannot be mapped or it cannot be built (no call is made for it; an unmappable record
    still has its item, for the preview). The config's push addresses are read
    once for the batch; `addresses` (a BoundAddresses) is given by the preview."""
    if addresses is None:
        addresses = BoundAddresses.for_config(config)
    persons = {}
    if config.person_mapping != PersonMapping.LOGIN_ID:  # login ids pass through unread
        logins = {r.receiver for r in records} | {r.creator for r in records if r.creator}
        persons = {p.login_id: p for p in Person.objects.filter(login_id__any_of=logins)}
    names = dict(Workflow.objects.filter(workflow_id__any_of={r.workflow_id for r in records})
                 .values_list("workflow_id", "name"))
    items, refused = [], {}
    for record in records:
        try:
            item, problem = _build(config, record, persons, names, addresses)
        except Exception as exc:  # one malformed record must not block its lane: refuse it
            refused[record.pk] = Delivery(
                False, _("The record cannot be built into a push: %(error)s") % {"error": exc},
                permanent=True, error_class="BuildError")
            continue
        if problem:
            refused[record.pk] = Delivery(False, problem, permanent=True, error_class="MappingError")
        items.append(item)
    return items, refused


def _build(config, record, persons, names, addresses):
    """One record as a push item, and the reason its person cannot be mapped (or None)."""
    payload = record.payload
    receiver, problem = map_person(config.person_mapping, record.receiver, persons)
    creator, _problem = map_person(config.person_mapping, record.creator, persons)
    links = addresses.links(record.request_id, record.receiver)
    return PushItem(
        record_id=record.pk, idempotency_key=record.idempotency_key,
        data_set=record.data_set, business_status=record.business_status,
        request_id=record.request_id, title=payload.get("request_title", ""),
        workflow_id=record.workflow_id,
        workflow_name=names.get(record.workflow_id, record.workflow_id),
        node_name=payload.get("node_name", ""), creator=creator or record.creator,
        receiver=receiver, receiver_login=record.receiver, identity=record.identity,
        created_at=_when(payload.get("created_at") or payload["occurred_at"]),
        occurred_at=_when(payload["occurred_at"]), viewed=bool(payload.get("viewed")),
        task_id=payload.get("task_id", ""), pc_url=links.pc_url, app_url=links.app_url,
        adaptive_url=links.adaptive_url,
    ), problem


def map_person(mapping, login, persons):
    """Our login id → the target's user id. Login ids pass through even for persons the
    directory does not know; every other mapping needs the person and the field."""
    if not login:
        return "", None
    if mapping == PersonMapping.LOGIN_ID:
        return login, None
    person = persons.get(login)
    if person is None:
        return "", _("“%(login)s” is not in the directory, so it cannot be mapped to %(field)s.") % {
            "login": login, "field": PersonMapping(mapping).label}
    value = getattr(person, mapping, "")
    if not value:
        return "", _("%(person)s has no %(field)s in the directory.") % {
            "person": person, "field": PersonMapping(mapping).label}
    return value, None


def _when(text):
    return parse_datetime(text) if isinstance(text, str) else text
