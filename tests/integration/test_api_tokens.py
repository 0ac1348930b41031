"""API tokens: kept as a SHA-256 digest, the key shown once (when added), masked everywhere
else; DRF's plain-text tokens are moved over by the migration and keep working."""
import hashlib
import importlib
import re
import secrets
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from integration.models import ApiToken
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

URL = "/api/v1/requests/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
migration = importlib.import_module("integration.migrations.0009_api_tokens")


def call(key):
    return APIClient().get(URL, HTTP_AUTHORIZATION=f"Token {key}")


def token_updates(queries):
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith("UPDATE") and "integration_apitoken" in q["sql"]]


def stored_text():
    """Every row of every table, and the decoded sessions: wherever a key could have leaked."""
    qn = connection.ops.quote_name
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {qn(table)}")
            rows.extend(cursor.fetchall())
    rows.extend(session.get_decoded() for session in Session.objects.all())
    return "\n".join(map(repr, rows))


def test_a_fresh_key_authenticates(admin):
    token, key = ApiToken.objects.issue(admin, "erp")
    assert re.fullmatch(r"[0-9a-f]{40}", key)
    assert call(key).status_code == 200


def test_a_wrong_key_a_missing_one_and_an_inactive_user_get_401(admin):
    _token, key = ApiToken.objects.issue(admin, "erp")
    refused = call("0" * 40)
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Token"
    assert call(key[:-1]).status_code == 401
    assert APIClient().get(URL).status_code == 401
    admin.is_active = False
    admin.save()
    assert call(key).status_code == 401


def test_the_database_holds_the_digest_and_never_the_key(admin):
    token, key = ApiToken.objects.issue(admin, "erp")
    with connection.cursor() as cursor:
        cursor.execute("SELECT prefix, digest FROM integration_apitoken WHERE id = %s",
                       [token.pk])
        assert cursor.fetchone() == (key[:8], hashlib.sha256(key.encode()).hexdigest())
    assert key not in stored_text()
    assert str(token) == f"erp ({key[:8]}…)"


def test_it_records_the_last_use_at_most_once_per_five_minutes(admin):
    token, key = ApiToken.objects.issue(admin, "erp")
    assert token.last_used_at is None
    with CaptureQueriesContext(connection) as first:
        assert call(key).status_code == 200
    assert len(token_updates(first)) == 1
    token.refresh_from_db()
    used = token.last_used_at
    assert used is not None

    with CaptureQueriesContext(connection) as again:
        assert call(key).status_code == 200
    assert token_updates(again) == []
    token.refresh_from_db()
    assert token.last_used_at == used

    earlier = used - timedelta(minutes=6)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=earlier)
    with CaptureQueriesContext(connection) as later:
        assert call(key).status_code == 200
    assert len(token_updates(later)) == 1
    token.refresh_from_db()
    assert token.last_used_at > earlier


def test_concurrent_requests_of_one_token_write_its_last_use_once(admin):
    token, _key = ApiToken.objects.issue(admin, "erp")
    one, other = ApiToken.objects.get(pk=token.pk), ApiToken.objects.get(pk=token.pk)
    assert one.record_use() is True
    assert other.record_use() is False  # it read the row before the first wrote it


@pytest.fixture
def staff(client, admin):
    client.force_login(admin)
    return client


def test_the_add_form_asks_only_the_user_and_the_name(staff):
    page = staff.get(reverse("admin:integration_apitoken_add"), **EN).content.decode()
    assert 'name="user"' in page and 'name="name"' in page
    assert 'name="prefix"' not in page and 'name="digest"' not in page


def test_the_admin_shows_the_key_once_and_never_again(staff, admin):
    r = staff.post(reverse("admin:integration_apitoken_add"),
                   {"user": admin.pk, "name": "erp", "_continue": "1"}, **EN)
    assert r.status_code == 200, r.content.decode()[:2000]
    page = r.content.decode()
    key = re.search(r'value="([0-9a-f]{40})"', page).group(1)
    token = ApiToken.objects.get()
    assert ApiToken.objects.by_key(key) == token
    assert "it will not be shown again" in page
    assert reverse("admin:integration_apitoken_changelist") in page
    assert "no-store" in r["Cache-Control"]
    assert "messages" not in r.cookies
    assert call(key).status_code == 200

    change = reverse("admin:integration_apitoken_change", args=[token.pk])
    r = staff.post(change, {"name": "erp (prod)"}, **EN)
    assert r.status_code == 302
    pages = [reverse("admin:integration_apitoken_changelist"),
             reverse("admin:integration_apitoken_changelist") + "?q=erp", change,
             reverse("admin:integration_apitoken_history", args=[token.pk]),
             reverse("admin:integration_apitoken_delete", args=[token.pk]),
             reverse("admin:index")]
    for url in pages:
        page = staff.get(url, **EN).content.decode()
        assert key not in page, url
        assert f"{key[:8]}…" in page, url
    assert staff.get(change, **EN).content.decode().count('name="name"') == 1

    staff.post(reverse("admin:integration_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert not ApiToken.objects.exists()
    entries = LogEntry.objects.filter(object_id=str(token.pk))
    assert entries.count() == 3  # added, changed, deleted
    assert {e.object_repr for e in entries} == {f"erp ({key[:8]}…)", f"erp (prod) ({key[:8]}…)"}
    assert key not in stored_text()


def test_a_staff_member_issues_tokens_for_themselves_only(client, admin):
    operator = make_user("operator", "integration.add_apitoken", "integration.view_apitoken")
    client.force_login(operator)
    url = reverse("admin:integration_apitoken_add")
    page = client.get(url, **EN).content.decode()
    assert f'value="{operator.pk}"' in page and f'value="{admin.pk}"' not in page
    r = client.post(url, {"user": admin.pk, "name": "escalate"}, **EN)
    assert r.status_code == 200 and not ApiToken.objects.exists()
    client.post(url, {"user": operator.pk, "name": "mine"}, **EN)
    assert ApiToken.objects.get().user == operator


@pytest.fixture
def authtoken_table():
    """DRF's authtoken table as its migration made it; the app is no longer installed."""
    created = "datetime" if connection.vendor == "sqlite" else "timestamp with time zone"
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE authtoken_token ("key" varchar(40) NOT NULL PRIMARY KEY, '
                       f'"created" {created} NOT NULL, "user_id" integer NOT NULL)')
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS authtoken_token")


def legacy_rows():
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        return cursor.fetchone()[0]


def run_data_migration():
    # Only its connection is used; a real schema editor refuses SQLite inside a transaction.
    migration.copy_authtoken_tokens(apps, SimpleNamespace(connection=connection))


def test_the_migration_moves_drf_tokens_so_their_keys_keep_working(admin, authtoken_table):
    key = secrets.token_hex(20)
    created = (timezone.now() - timedelta(days=30)).replace(microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute('INSERT INTO authtoken_token ("key", "created", "user_id") '
                       "VALUES (%s, %s, %s)",
                       [key, connection.ops.adapt_datetimefield_value(created), admin.pk])
    run_data_migration()
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.prefix, token.created_at) == (
        admin, "migrated", key[:8], created)
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()
    assert legacy_rows() == 0
    assert call(key).status_code == 200
    assert key not in stored_text()

    run_data_migration()  # nothing left to move; nothing doubled
    assert ApiToken.objects.count() == 1


def test_the_migration_does_nothing_without_the_authtoken_table(admin):
    run_data_migration()
    assert not ApiToken.objects.exists()
