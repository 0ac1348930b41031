"""`__any_of`: the same rows as `__in`, the values sent as one array on PostgreSQL."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integration.models import Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def persons():
    return Person.objects.bulk_create(
        [Person(login_id=f"u{i}", external_id=f"x{i}", name=f"n{i}") for i in range(6)])


def test_it_finds_what_in_finds_for_text_and_numbers(persons):
    logins = {"u1", "u3", "nobody", "u5"}
    assert (sorted(Person.objects.filter(login_id__any_of=logins).values_list("pk", flat=True))
            == sorted(Person.objects.filter(login_id__in=logins).values_list("pk", flat=True))
            == [persons[1].pk, persons[3].pk, persons[5].pk])
    ids = (p.pk for p in persons[:2])  # any iterable, read once however often it is compiled
    query = Person.objects.filter(pk__any_of=ids)
    assert query.count() == 2 and sorted(query.values_list("login_id", flat=True)) == ["u0", "u1"]
    assert Person.objects.exclude(login_id__any_of=["u0"]).count() == 5


def test_no_values_match_nothing(persons):
    assert not Person.objects.filter(login_id__any_of=[]).exists()
    assert Person.objects.exclude(login_id__any_of=set()).count() == 6


def test_on_postgresql_the_values_are_one_array_elsewhere_an_in_list(persons):
    with CaptureQueriesContext(connection) as queries:
        assert Person.objects.filter(login_id__any_of=[f"u{i}" for i in range(500)]).count() == 6
    sql = queries[0]["sql"]
    if connection.vendor == "postgresql":
        assert '"login_id" = ANY(' in sql and " IN (" not in sql
    else:
        assert '"login_id" IN (' in sql


def test_values_with_array_syntax_in_them_are_matched_as_they_are():
    odd = ['a,b', '{c}', 'd"e', "f'g", "h\\i", "NULL", " j ", "张三", ""]
    Person.objects.bulk_create(
        [Person(login_id=v, external_id=f"odd{i}", name="n") for i, v in enumerate(odd)])
    found = set(Person.objects.filter(login_id__any_of=odd).values_list("login_id", flat=True))
    assert found == set(odd)
    assert not Person.objects.filter(login_id__any_of=["a", "b", "c", "NULL "]).exists()
