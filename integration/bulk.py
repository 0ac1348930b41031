"""Bulk writes for the tables the pipeline fills (events, requests, todo items, push records,
attempts): the rows Django's bulk_create and bulk_update would write, with less work per row.

On PostgreSQL `bulk_insert` goes through COPY and `update_rows` through one `UPDATE … FROM
jsonb_to_recordset(…)`; elsewhere (SQLite) they are Django's own, which are portable.
"""
import datetime as dt
import enum
import functools
import json
import operator
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.base import ModelState

from . import statistics


def instance(model, **values):
    """`model(**values)` for a row bound for bulk_insert or update_rows, at a sixth of the
    cost (an ingest call builds three or four instances an event, a push worker one attempt a
    delivery; their constructor was a fifth of the web server's CPU per event).

    `values` are by attribute name — a relation by its id (`config_id=…`), not an object —
    and the fields not given take their defaults, as in the constructor; an unknown name is
    a TypeError, as there. What it skips: the per-field descriptor calls and the
    pre_init/post_init signals (the console connects none; nothing built here is saved
    with `save()`, whose signals stay)."""
    blueprint = _BLUEPRINTS.get(model) or _blueprint(model)
    if not values.keys() <= blueprint.names:
        unknown = sorted(values.keys() - blueprint.names)
        raise TypeError(f"{model.__name__} has no field {', '.join(unknown)}")
    obj = model.__new__(model)
    obj._state = ModelState()
    fields = obj.__dict__
    fields.update(blueprint.constants)
    for name, default in blueprint.callables:
        if name not in values:
            fields[name] = default()
    fields.update(values)
    return obj


class LoadedInBulk:
    """A model mixin: rows read whole (no deferred field) become instances as `instance()`
    builds them, each value set at once — a push worker loads its batch's records this way,
    a hundred a query. Django's `from_db` sets them one by one through the constructor."""

    @classmethod
    def from_db(cls, db, field_names, values):
        order = (_BLUEPRINTS.get(cls) or _blueprint(cls)).order
        if len(values) != len(order):  # deferred fields: Django's own way
            return super().from_db(db, field_names, values)
        obj = cls.__new__(cls)
        obj.__dict__.update(zip(order, values))
        state = obj._state = ModelState()
        state.adding, state.db = False, db
        return obj


@dataclass(frozen=True)
class _Blueprint:
    order: tuple  # attribute names of the concrete fields, in the order rows hold them
    names: frozenset  # the same, as a set
    constants: dict  # their defaults, where one value serves every instance
    callables: tuple  # (name, callable) where each instance takes its own (dict, list, now)


_BLUEPRINTS = {}


def _blueprint(model):
    constants, callables = {}, []
    for field in model._meta.concrete_fields:
        if field.has_default() and callable(field.default):
            callables.append((field.attname, field.get_default))
        else:
            constants[field.attname] = field.get_default()
    order = tuple(f.attname for f in model._meta.concrete_fields)
    blueprint = _BLUEPRINTS[model] = _Blueprint(order, frozenset(order), constants,
                                                tuple(callables))
    return blueprint


def bulk_insert(model, objs, with_ids=True):
    """bulk_create for the tables an ingest call fills: the same rows, in the caller's
    transaction. On PostgreSQL through COPY: Django inserts there with one array parameter
    per column, which psycopg renders in pure Python (a fifth of an ingest call's time at
    1000 events); COPY rows are formatted in C.

    COPY returns nothing, so with `with_ids` the primary keys are taken from the table's
    sequence first and written with the rows (the caller gets saved objects, as from
    bulk_create); without it the objects stay without a pk."""
    if not objs or connection.vendor != "postgresql":
        return model.objects.bulk_create(objs)
    objs = list(objs)
    db = connections[DEFAULT_DB_ALIAS]  # the proxy's per-attribute lookups cost per value
    for obj in objs:
        if obj._state.fields_cache:  # a related object to take the id of (or refuse, unsaved)
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    with db.cursor() as cursor:
        if with_ids:
            # The sequence is looked up once (the CTE): `nextval(pg_get_serial_sequence(…))`
            # resolved the name again for every row, 8 µs an id against 1.5.
            cursor.execute("WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, %s)"
                           "::regclass AS seq) SELECT nextval(s.seq) "
                           "FROM s, generate_series(1, %s)",
                           [meta.db_table, meta.pk.column, len(objs)])
            for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                obj.pk = pk
            fields.insert(0, meta.pk)
        rows = Rows(fields, db)
        quote = db.ops.quote_name
        columns = ", ".join(quote(f.column) for f in rows.fields)
        # The driver's cursor (Django's wrapper has no copy()), in the same transaction; its
        # errors wrapped as Django's, so a unique violation is an IntegrityError (retried).
        with db.wrap_database_errors, cursor.cursor.copy(
                f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row(rows(obj))
    for obj in objs:
        obj._state.adding, obj._state.db = False, db.alias
    statistics.wrote(meta.db_table)
    return objs


def update_rows(model, objs, fields, returning=False):
    """Write `fields` of saved `objs`, each row its own values, in one statement. With
    `returning`, says which were there to update: the set of their primary keys.

    On PostgreSQL: one `UPDATE … FROM jsonb_to_recordset(<the rows as one JSON text>)`.
    Django's bulk_update builds a `CASE WHEN id = … THEN …` expression per row and field
    (~40 % of a push worker's CPU); one array parameter per column was cheaper, but psycopg
    quotes arrays element by element in Python (14 % of a batch task's worker). The JSON
    text is made by json.dumps, in C, from the values COPY would write; a JSON column's value
    is embedded as JSON, not as a string of JSON to be parsed a second time. Elsewhere
    (SQLite) bulk_update, which is portable."""
    if not objs:
        return set() if returning else None
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields, batch_size=500)
        if returning:
            return set(model.objects.filter(pk__in=[obj.pk for obj in objs])
                       .values_list("pk", flat=True))
        return None
    db = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    rows = Rows([meta.pk] + [meta.get_field(name) for name in fields], db, embed_json=True)
    quote = db.ops.quote_name
    # Base types: a varchar(n) would cut a long value silently, where the column refuses it
    # as any UPDATE does. JSON columns written as text (a field with an encoder of its own)
    # are cast.
    types = {field: re.sub(r"[(].*[)]", "", field.db_type(db)) for field in rows.fields}
    record = ", ".join(f"{quote(field.column)} "
                       f"{'text' if field in rows.json_text else types[field]}"
                       for field in rows.fields)
    assignments = ", ".join(
        f"{quote(field.column)} = v.{quote(field.column)}"
        + (f"::{types[field]}" if field in rows.json_text else "")
        for field in rows.fields if not field.primary_key)
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    names = [field.column for field in rows.fields]
    data = json.dumps([dict(zip(names, rows(obj))) for obj in objs],
                      default=_json_value, ensure_ascii=False)
    with db.cursor() as cursor:
        cursor.execute(f"UPDATE {table} AS t SET {assignments} FROM jsonb_to_recordset(%s) "
                       f"AS v({record}) WHERE t.{pk} = v.{pk}"
                       + (f" RETURNING t.{pk}" if returning else ""), [data])
        updated = {pk for (pk,) in cursor.fetchall()} if returning else None
    statistics.wrote(meta.db_table)
    return updated


def _json_value(value):
    """Dates and times as PostgreSQL reads them back exactly (ISO 8601, microseconds)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"update_rows cannot write a {type(value).__name__}")


# Model fields whose value the database takes as it is, when it is of a plain type.
_PLAIN_FIELDS = (models.CharField, models.TextField, models.BooleanField, models.IntegerField,
                 models.SmallIntegerField, models.PositiveIntegerField,
                 models.PositiveSmallIntegerField, models.ForeignKey, models.AutoField,
                 models.BigAutoField)
# Types those fields' conversions return unchanged (a choices enum is a str or an int, and
# is written as one). Others (a lazy string, a Decimal in an integer column) take the
# field's conversion.
_PLAIN_TYPES = {str, int, bool, type(None)}


def _plain_type(kind):
    if kind not in _PLAIN_TYPES and issubclass(kind, enum.Enum) and issubclass(kind, str | int):
        _PLAIN_TYPES.add(kind)
    return kind in _PLAIN_TYPES


class Rows:
    """A model's objects as rows of column values — what bulk_create would send — without a
    trip through each field's conversions for every plain value (an ingest call writes ~80
    columns an event): plain columns are read with one C-level attrgetter and their types
    checked at once, aware datetimes pass as they are, the rest (JSON, automatic dates,
    other fields) take their conversion. `fields` (the column order) holds the columns in
    that order: the plain ones first."""

    def __init__(self, fields, db, embed_json=False):
        plain = [f for f in fields if type(f) in _PLAIN_FIELDS]
        stamps = [f for f in fields
                  if isinstance(f, models.DateTimeField) and not _automatic(f)]
        rest = [f for f in fields if f not in plain and f not in stamps]
        self.fields = plain + stamps + rest
        self.json_text = [f for f in rest if isinstance(f, models.JSONField)
                          and not (embed_json and f.encoder is None)]
        self._plain = _getter(f.attname for f in plain)
        self._plain_preps = [_converted(f, db) for f in plain]
        self._stamps = [(f.attname, _converted(f, db)) for f in stamps]
        self._rest = [_prep(f, db, f in self.json_text) for f in rest]

    def __call__(self, obj):
        values = self._plain(obj)
        if not set(map(type, values)) <= _PLAIN_TYPES and not all(
                _plain_type(type(value)) for value in values):
            values = [value if type(value) in _PLAIN_TYPES else prep(obj)
                      for value, prep in zip(values, self._plain_preps, strict=True)]
        stamps = []
        for name, prep in self._stamps:
            value = getattr(obj, name)
            stamps.append(value if value is None or (type(value) is dt.datetime
                                                     and value.tzinfo is not None)
                          else prep(obj))
        return (*values, *stamps, *[prep(obj) for prep in self._rest])


def _getter(names):
    """obj → a tuple of those attributes (attrgetter gives a bare value for one name)."""
    names = list(names)
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        get = operator.attrgetter(names[0])
        return lambda obj: (get(obj),)
    return lambda obj: ()


def _automatic(field):
    """A date the field sets itself on save (auto_now, auto_now_add)."""
    return getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)


def _converted(field, db):
    name = field.attname
    return lambda obj: field.get_db_prep_save(getattr(obj, name), db)


def _prep(field, db, json_text):
    """obj → the value of one of the columns that are not plain."""
    if _automatic(field):
        if settings.USE_TZ and isinstance(field, models.DateTimeField):
            return lambda obj: field.pre_save(obj, True)  # timezone.now(): aware, as it is
        return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), db)
    if isinstance(field, models.JSONField):
        name = field.attname
        if not json_text:  # embedded in update_rows' JSON as it is
            return operator.attrgetter(name)
        # The text json.dumps gives is what the field's own adapter would send.
        dumps = functools.partial(json.dumps, cls=field.encoder)

        def prep(obj):
            value = getattr(obj, name)
            return None if value is None else dumps(value)
        return prep
    return _converted(field, db)
