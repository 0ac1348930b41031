"""The tables an ingest call writes carry no index that no query reads: each one is an entry
written for every event (issue 9)."""
import pytest
from django.db import connection

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]

TABLES = ["integration_inboundevent", "integration_request", "integration_todoitem",
          "pushconfig_pushrecord", "pushconfig_pushattempt"]


def indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename, indexname, indexdef FROM pg_indexes "
                       "WHERE tablename = ANY(%s)", [TABLES])
        return cursor.fetchall()


def test_no_text_column_has_a_like_twin():
    """varchar_pattern_ops indexes serve `LIKE 'x%'` only; nothing in the console asks it
    of these columns (the admin's searches compare UPPER() values, which no b-tree serves)."""
    assert [name for _table, name, sql in indexes() if "pattern_ops" in sql] == []


def test_no_index_is_the_start_of_another():
    """An index on (a) beside one on (a, b, …) only doubles the writes: the longer one serves
    lookups by a (partial indexes aside: they hold other rows)."""
    columns = {}
    for table, name, sql in indexes():
        if " WHERE " not in sql:
            columns[name] = (table, sql.split("(", 1)[1].rsplit(")", 1)[0].split(", "))
    shadowed = [(name, other) for name, (table, cols) in columns.items()
                for other, (other_table, other_cols) in columns.items()
                if other != name and table == other_table and len(cols) < len(other_cols)
                and other_cols[:len(cols)] == cols]
    assert shadowed == []


@pytest.mark.django_db(transaction=True)
def test_flagged_events_are_found_by_an_index_of_the_flagged_few():
    """Nearly every event is unflagged: the flag's index holds the flagged ones only, and
    the admin's flag filters and the API's `flagged=true` read it."""
    from integration.bulk import bulk_insert
    from integration.models import InboundEvent
    from tests.integration.helpers import inbound_event

    bulk_insert(InboundEvent, [
        inbound_event(f"f-{n}", receiver=f"u{n}", flags=["unknown_receiver"] if n % 500 == 0
                      else [], flagged=n % 500 == 0) for n in range(20_000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE integration_inboundevent")
        cursor.execute("SELECT count(*) FROM integration_inboundevent WHERE flagged")
        assert cursor.fetchone() == (40,)
    flagged = InboundEvent.objects.filter(flagged=True)
    assert "inbound_flagged" in flagged.explain()
    assert "inbound_flagged" in flagged.filter(flags__icontains='"unknown_receiver"').explain()
