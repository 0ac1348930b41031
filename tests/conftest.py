"""Shared test helpers: named personas, API clients, and the services on 127.0.0.1.

Personas (STYLE.md): `admin` (superuser), `operator` (holds exactly the permissions a test
grants), `outsider` (logged in, no permissions). Service fixtures skip when PostgreSQL or
Redis is not reachable, unless REQUIRE_SERVICES=1, when a missing service is a failure.
"""
import os
import socket

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from integration.models import ApiToken

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def service_reachable(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name, host, port):
    if not service_reachable(host, port):
        message = f"{name} is not reachable on {host}:{port}"
        if REQUIRE_SERVICES:
            pytest.fail(message + " (REQUIRE_SERVICES=1)")
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Personas are created per test; PBKDF2 would spend 0.2 s on each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_statistics_checks(monkeypatch):
    """The bulk writers' statistics check (integration/statistics.py) runs on a clock: it
    would add on-commit callbacks, or an ANALYZE, to tests at random. test_statistics turns
    it on where it tests it; workers started by the end-to-end tests run it for real."""
    from integration import statistics

    monkeypatch.setattr(statistics, "_checked_at", float("inf"))
    monkeypatch.setattr(statistics, "_touched", set())


@pytest.fixture(autouse=True)
def _english_outside_requests():
    """Work outside a request (inbox, pipeline, workers, alerts) speaks the default language,
    Chinese; tests read its messages in English. A request still follows its Accept-Language
    (LocaleMiddleware), and English is put back when it finishes, since a request leaves its
    own language active in the thread."""
    from django.core.signals import request_finished
    from django.utils import translation

    def back_to_english(**kwargs):
        translation.activate("en")

    translation.activate("en")
    request_finished.connect(back_to_english, weak=False, dispatch_uid="tests-english")
    yield
    request_finished.disconnect(dispatch_uid="tests-english")
    translation.deactivate()


@pytest.fixture
def redis_url():
    require_service("Redis", "127.0.0.1", 6379)
    return "redis://127.0.0.1:6379/15"


def make_user(username, *perms, superuser=False):
    user = User.objects.create_user(username, password="pw-" + username, is_staff=True,
                                    is_superuser=superuser)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def client_for(user):
    client = APIClient()
    _token, key = ApiToken.objects.issue(user, "tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def admin(db):
    return make_user("admin", superuser=True)


@pytest.fixture
def api(admin):
    """An API client authenticated as the superuser."""
    return client_for(admin)


@pytest.fixture
def outsider_api(db):
    """Authenticated, but holding no permission at all."""
    return client_for(make_user("outsider"))


@pytest.fixture
def operator_api(db):
    """Returns a factory: operator_api("integration.add_inboundevent", ...) → client."""
    made = []

    def factory(*perms):
        made.append(perms)
        return client_for(make_user(f"operator{len(made)}", *perms))
    return factory


def pytest_collection_modifyitems(config, items):
    """Tests marked postgres_only exercise row locking that SQLite does not have; on SQLite
    they are deselected (not skipped): the PostgreSQL run of scripts/test covers them."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    kept = [item for item in items if "postgres_only" not in item.keywords]
    deselected = [item for item in items if "postgres_only" in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
