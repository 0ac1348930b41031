"""Helpers shared by the admin and API tests of push configs and the push log: a custom push
type with a secret (registered for one test only), organizations with a scoped administrator,
records made through the inbox, and a port nobody listens on."""
import json

import pytest
from django.db import connection
from rest_framework import serializers

from integration.models import Subcompany
from pushconfig.models import AdminScope
from pushconfig.transports import REGISTRY, Delivery, Transport
from tests.conftest import client_for, make_user
from tests.integration.helpers import todo_event

SECRET = "VAULT-PASSWORD-ABCDEFGH-1234"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


class VaultParams(serializers.Serializer):
    account = serializers.CharField(max_length=32, label="account",
                                    help_text="The account the target gave us.")
    password = serializers.CharField(max_length=64, label="password")
    region = serializers.ChoiceField(choices=[("north", "North"), ("south", "South")],
                                     default="north", label="region")
    verbose = serializers.BooleanField(default=False, label="verbose")


class VaultTransport(Transport):
    """A custom push class with a secret: it answers the connection test from its params."""

    key = "test_vault"
    label = "Vault (test)"
    implementation = "TestVaultPush"
    custom = True
    Params = VaultParams
    secret_params = ("password",)
    suite_params = ("account", "password")

    def test_connection(self):
        return self.deliver(lambda: Delivery(True, http_status=200,
                                             response=f"hello {self.params['account']}"))


@pytest.fixture
def vault(monkeypatch):
    """The custom push type "test_vault", registered for the duration of one test."""
    monkeypatch.setitem(REGISTRY, VaultTransport.key, VaultTransport)
    return VaultTransport


def raw_params(pk):
    """The params column as stored, read past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT params FROM pushconfig_pushconfig WHERE id = %s", [pk])
        value = cursor.fetchone()[0]
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture
def orgs(db):
    north = Subcompany.objects.create(external_id="sc-north", name="北区分部")
    south = Subcompany.objects.create(external_id="sc-south", name="南区分部")
    return north, south


PUSH_PERMS = ("pushconfig.view_pushconfig", "pushconfig.add_pushconfig",
              "pushconfig.change_pushconfig", "pushconfig.delete_pushconfig",
              "pushconfig.view_pushrecord", "pushconfig.change_pushrecord",
              "pushconfig.delete_pushrecord")


def scoped_user(organization, username="north-admin"):
    """A staff user with every push permission, confined to one organization."""
    user = make_user(username, *PUSH_PERMS)
    AdminScope.objects.create(user=user, organization=organization)
    return user


def scoped_api(organization):
    return client_for(scoped_user(organization))


def todo(minute, **kw):
    return todo_event(occurred_at=f"2026-11-20T09:{minute:02d}:00+08:00", **kw)
