"""What the pipeline needs to know about the persons and workflows of one batch of events,
each fetched with one query per kind."""
from collections import defaultdict

from integration.models import Group, PartTimeIdentity, Person, Role, Workflow


class BatchFacts:
    def __init__(self, logins, workflow_ids, identities=()):
        self.persons = {p.login_id: p for p in Person.objects.filter(login_id__any_of=logins)
                        .select_related("department", "subcompany", "post")}
        self.workflows = {w.workflow_id: w for w in Workflow.objects.filter(workflow_id__any_of=workflow_ids)
                          .select_related("workflow_type")}
        self._memberships = None
        self._identity_ids = set(identities)
        self._identities = None

    @classmethod
    def of_events(cls, events):
        logins = {e.receiver for e in events} | {e.payload.get("creator") for e in events}
        return cls(logins - {None, ""}, {e.workflow_id for e in events if e.workflow_id},
                   {e.payload.get("identity") for e in events} - {None, ""})

    def memberships(self):
        """login id → {("group", id), ("role", id), ...}: fetched once, on first need."""
        if self._memberships is None:
            found = defaultdict(set)
            ids = {p.pk: login for login, p in self.persons.items()}
            for model, kind in ((Group, "group"), (Role, "role")):
                through = model.members.through
                for person_id, ext in through.objects.filter(person_id__any_of=ids).values_list(
                        "person_id", f"{model._meta.model_name}__external_id"):
                    found[ids[person_id]].add((kind, ext))
            self._memberships = found
        return self._memberships

    def identities(self):
        if self._identities is None:
            self._identities = {i.external_id: i for i in PartTimeIdentity.objects.filter(
                external_id__any_of=self._identity_ids).select_related("department", "subcompany", "post")}
        return self._identities

    def org_entries(self, login, identity=""):
        """Every (kind, OA id) a receiver belongs to, for person interception rules."""
        person = self.persons.get(login)
        if person is None:
            return set()
        entries = {("person", person.external_id)} | self.memberships().get(login, set())
        holders = [person]
        if identity and identity in self.identities():
            holders.append(self.identities()[identity])
        for holder in holders:
            for kind in ("department", "subcompany", "post"):
                target = getattr(holder, kind)
                if target is not None:
                    entries.add((kind, target.external_id))
        return entries
