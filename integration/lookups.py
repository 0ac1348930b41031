"""`field__any_of=values`: a set of values matched as one parameter.

Django writes `field__in=values` as one `%s` per value, each value passed through
the field's conversions, and psycopg then quotes each into the query text: for the lists
an ingest call looks up (its 1,000 event ids, up to 2,000 logins, its requests) that took
about four times the Python time of the query itself. On PostgreSQL `any_of` is
`column = ANY(%s)` with the values as one array; elsewhere it is `IN`, as portable.

The values are taken as the column stores them (str, int): no conversion per value, so
not model instances, and not for columns whose stored form differs from the Python one.
"""
from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup
from django.db.models.lookups import In


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        # A list once: the query may be compiled more than once (a generator would not be).
        return list(self.rhs)

    def as_sql(self, compiler, connection):
        values = self.rhs
        if not values:
            raise EmptyResultSet  # as `__in=[]`: an array of no type cannot be compared
        if connection.vendor != "postgresql":
            return compiler.compile(In(self.lhs, values))
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*params, values]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # relations keep lookups of their own: by the column's ids
