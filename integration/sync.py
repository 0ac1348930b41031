"""Bulk upsert of the org directory and the workflow catalog, as the OA syncs them.

One engine for every kind: a `SyncKind` names the model, its key, its plain fields, its
references to other entries (by their OA ids) and its member lists. A call validates each
item on its own, resolves every reference with one query per target, refuses unknown ones
naming the field, and writes the valid items with one INSERT ... ON CONFLICT UPDATE.
References to entries of the same kind (a parent department) may point at items of the same
call; they are set in a second pass.
"""
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from rest_framework import serializers

from .events import StrictCharField, validate_batch
from .models import (
    Department, Group, PartTimeIdentity, Person, Post, Role, Subcompany, Workflow,
    WorkflowNode, WorkflowType,
)

CREATED, UPDATED, INVALID = "created", "updated", "invalid"


@dataclass
class SyncKind:
    name: str
    model: type
    serializer: type
    key: str = "external_id"
    fields: tuple = ("name", "active")
    refs: dict = field(default_factory=dict)      # field -> (model, key field)
    members: str | None = None                     # m2m to Person by external_id
    unique: tuple = ()                             # other unique fields, checked per call
    after_save: object = None                      # hook(saved_by_key, items)


def _ref():
    return StrictCharField(max_length=64, required=False, allow_blank=True, allow_null=True)


class EntrySerializer(serializers.Serializer):
    external_id = StrictCharField(max_length=64)
    name = StrictCharField(max_length=200)
    active = serializers.BooleanField(required=False, default=True)


class SubcompanySerializer(EntrySerializer):
    parent = _ref()


class DepartmentSerializer(EntrySerializer):
    subcompany = _ref()
    parent = _ref()


class PostSerializer(EntrySerializer):
    department = _ref()


class PersonSerializer(EntrySerializer):
    login_id = StrictCharField(max_length=64)
    work_code = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    mobile = serializers.RegexField(r"^\+?[0-9 \-]{3,31}$", max_length=32, required=False,
                                    allow_blank=True, default="")
    subcompany = _ref()
    department = _ref()
    post = _ref()


class MembersSerializer(EntrySerializer):
    members = serializers.ListField(child=StrictCharField(max_length=64), required=False,
                                    max_length=100000)


class IdentitySerializer(serializers.Serializer):
    external_id = StrictCharField(max_length=64)
    person = StrictCharField(max_length=64)
    subcompany = _ref()
    department = _ref()
    post = _ref()
    active = serializers.BooleanField(required=False, default=True)


class WorkflowTypeSerializer(serializers.Serializer):
    external_id = StrictCharField(max_length=64)
    name = StrictCharField(max_length=200)


class NodeSerializer(serializers.Serializer):
    node_id = StrictCharField(max_length=64)
    name = StrictCharField(max_length=200)


class WorkflowSerializer(serializers.Serializer):
    workflow_id = StrictCharField(max_length=64)
    name = StrictCharField(max_length=200)
    workflow_type = _ref()
    active = serializers.BooleanField(required=False, default=True)
    nodes = NodeSerializer(many=True, required=False, max_length=1000)

    def validate_nodes(self, nodes):
        ids = [n["node_id"] for n in nodes]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError(_("Node ids must be unique within a workflow."))
        return nodes


def _save_nodes(saved, items):
    """A workflow sent with `nodes` gets exactly those nodes, in the order given."""
    with_nodes = [(saved[item["workflow_id"]], item["nodes"]) for item in items if "nodes" in item]
    if not with_nodes:
        return
    WorkflowNode.objects.filter(workflow__in=[wf for wf, _ in with_nodes]).delete()
    WorkflowNode.objects.bulk_create([
        WorkflowNode(workflow=wf, node_id=node["node_id"], name=node["name"], order=position)
        for wf, nodes in with_nodes for position, node in enumerate(nodes)
    ])


KINDS = {kind.name: kind for kind in (
    SyncKind("subcompanies", Subcompany, SubcompanySerializer, refs={"parent": (Subcompany, "external_id")}),
    SyncKind("departments", Department, DepartmentSerializer,
             refs={"subcompany": (Subcompany, "external_id"), "parent": (Department, "external_id")}),
    SyncKind("posts", Post, PostSerializer, refs={"department": (Department, "external_id")}),
    SyncKind("persons", Person, PersonSerializer,
             fields=("name", "active", "login_id", "work_code", "email", "mobile"),
             refs={"subcompany": (Subcompany, "external_id"), "department": (Department, "external_id"),
                   "post": (Post, "external_id")},
             unique=("login_id",)),
    SyncKind("roles", Role, MembersSerializer, members="members"),
    SyncKind("groups", Group, MembersSerializer, members="members"),
    SyncKind("identities", PartTimeIdentity, IdentitySerializer, fields=("active",),
             refs={"person": (Person, "external_id"), "subcompany": (Subcompany, "external_id"),
                   "department": (Department, "external_id"), "post": (Post, "external_id")}),
    SyncKind("workflow-types", WorkflowType, WorkflowTypeSerializer, fields=("name",)),
    SyncKind("workflows", Workflow, WorkflowSerializer, key="workflow_id", fields=("name", "active"),
             refs={"workflow_type": (WorkflowType, "external_id")}, after_save=_save_nodes),
)}


class _Batch:
    def __init__(self, kind, items):
        self.kind = kind
        valid, errors = validate_batch(kind.serializer, items)
        self.results = {i: {"index": i, "key": key, "outcome": INVALID, "errors": e}
                        for i, key, e in [(i, _key_of(items[i], kind.key), e) for i, _, e in errors]}
        self.valid = {}
        for index, item in valid:
            self.valid[index] = item

    def refuse(self, index, field_name, message):
        item = self.valid.pop(index)
        self.results[index] = {"index": index, "key": item[self.kind.key], "outcome": INVALID,
                               "errors": {field_name: [message]}}


def _key_of(item, key):
    value = item.get(key) if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def upsert(kind, items):
    """Upsert a list of items of one kind. Returns per-item results in the order given.
    Two calls racing on the same unique value (a login id) meet the database's constraint;
    the loser is run again and then sees the winner's rows and refuses by name."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _upsert(kind, items)
        except IntegrityError:
            if attempt == 2:
                raise


def _upsert(kind, items):
    batch = _Batch(kind, items)
    _refuse_repeats(batch)
    for other in kind.unique:
        _refuse_unique_clash(batch, other)
    resolved = _resolve_refs(batch)
    members = _resolve_members(batch) if kind.members else {}

    keys = [item[kind.key] for item in batch.valid.values()]
    existing = set(kind.model.objects.filter(**{f"{kind.key}__in": keys})
                   .values_list(kind.key, flat=True))
    self_refs = [f for f, (model, _k) in kind.refs.items() if model is kind.model]
    objects = []
    for index, item in batch.valid.items():
        values = {f: item[f] for f in kind.fields if f in item}
        for ref_field in kind.refs:
            if ref_field not in self_refs:
                values[f"{ref_field}_id"] = resolved[ref_field].get(item.get(ref_field))
        objects.append(kind.model(**{kind.key: item[kind.key]}, **values))
        outcome = UPDATED if item[kind.key] in existing else CREATED
        batch.results[index] = {"index": index, "key": item[kind.key], "outcome": outcome}
    update_fields = list(kind.fields) + [r for r in kind.refs if r not in self_refs]
    if any(f.name == "updated_at" for f in kind.model._meta.fields):
        update_fields.append("updated_at")  # auto_now is not applied by ON CONFLICT UPDATE
    kind.model.objects.bulk_create(
        objects, update_conflicts=True, unique_fields=[kind.key], update_fields=update_fields,
        batch_size=500,
    )
    saved = kind.model.objects.in_bulk(keys, field_name=kind.key) if keys else {}
    if self_refs:
        _set_self_refs(kind, batch, saved, self_refs, resolved)
    if kind.members:
        _set_members(kind, batch, saved, members)
    if kind.after_save:
        kind.after_save(saved, list(batch.valid.values()))
    return [batch.results[i] for i in sorted(batch.results)]


def _refuse_repeats(batch):
    seen = set()
    for index in sorted(batch.valid):
        key = batch.valid[index][batch.kind.key]
        if key in seen:
            batch.refuse(index, batch.kind.key, _("“%s” appears more than once in this call.") % key)
        seen.add(key)


def _refuse_unique_clash(batch, field_name):
    """A unique field (a person's login id) may not move to another entry silently."""
    kind = batch.kind
    wanted = {}
    for index in sorted(batch.valid):
        item = batch.valid[index]
        if item[field_name] in wanted:
            batch.refuse(index, field_name, _("“%s” is used by another item of this call.")
                         % item[field_name])
        else:
            wanted[item[field_name]] = index
    owners = dict(kind.model.objects.filter(**{f"{field_name}__in": wanted})
                  .values_list(field_name, kind.key))
    for value, index in wanted.items():
        owner = owners.get(value)
        if owner is not None and index in batch.valid and owner != batch.valid[index][kind.key]:
            batch.refuse(index, field_name, _("“%(value)s” already belongs to %(owner)s.")
                         % {"value": value, "owner": owner})


def _resolve_refs(batch):
    """Map each reference field's OA ids to primary keys; refuse items naming unknown ones."""
    resolved = {}
    for ref_field, (model, key) in batch.kind.refs.items():
        wanted = {item.get(ref_field) for item in batch.valid.values() if item.get(ref_field)}
        found = dict(model.objects.filter(**{f"{key}__in": wanted}).values_list(key, "pk"))
        in_call = set()
        if model is batch.kind.model:
            in_call = {item[batch.kind.key] for item in batch.valid.values()}
        for index in sorted(batch.valid):
            value = batch.valid[index].get(ref_field)
            if value and value not in found and value not in in_call:
                batch.refuse(index, ref_field, _("Unknown %(kind)s “%(value)s”: sync it first.")
                             % {"kind": model._meta.verbose_name, "value": value})
        resolved[ref_field] = found
    return resolved


def _resolve_members(batch):
    wanted = {m for item in batch.valid.values() for m in item.get("members", [])}
    found = dict(Person.objects.filter(external_id__in=wanted).values_list("external_id", "pk"))
    for index in sorted(batch.valid):
        unknown = [m for m in batch.valid[index].get("members", []) if m not in found]
        if unknown:
            batch.refuse(index, "members", _("Unknown persons: %s. Sync persons first.")
                         % ", ".join(unknown[:20]))
    return found


def _set_self_refs(kind, batch, saved, self_refs, resolved):
    changed = []
    for item in batch.valid.values():
        obj = saved[item[kind.key]]
        for ref_field in self_refs:
            value = item.get(ref_field)
            target = saved[value].pk if value in saved else resolved[ref_field].get(value)
            # an entry cannot be its own parent
            setattr(obj, f"{ref_field}_id", None if target == obj.pk else target)
        changed.append(obj)
    kind.model.objects.bulk_update(changed, self_refs, batch_size=500)


def _set_members(kind, batch, saved, person_pks):
    """A role or group sent with `members` gets exactly those members."""
    through = getattr(kind.model, kind.members).through
    owner = f"{kind.model._meta.model_name}_id"
    with_members = [(saved[item[kind.key]].pk, item["members"])
                    for item in batch.valid.values() if "members" in item]
    if not with_members:
        return
    through.objects.filter(**{f"{owner}__in": [pk for pk, _ in with_members]}).delete()
    through.objects.bulk_create([
        through(**{owner: pk, "person_id": person_pks[m]})
        for pk, members in with_members for m in dict.fromkeys(members)
    ], batch_size=1000)
