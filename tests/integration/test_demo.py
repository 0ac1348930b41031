"""manage.py demo: the data a newcomer starts with, safe to load again and again."""
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from integration.models import (
    Department, Group, InboundEvent, PartTimeIdentity, Person, Post, Request, Role, Subcompany,
    TodoItem, Workflow, WorkflowNode, WorkflowType,
)

pytestmark = pytest.mark.django_db

MODELS = [User, Token, Subcompany, Department, Post, Person, Role, Group, PartTimeIdentity,
          WorkflowType, Workflow, WorkflowNode, Request, TodoItem, InboundEvent]


def demo(*args):
    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def counts():
    return {model.__name__: model.objects.count() for model in MODELS}


def test_it_loads_the_demo_data_through_the_inbox():
    demo("--password", "pw-demo-1")
    assert counts() == {
        "User": 1, "Token": 1, "Subcompany": 1, "Department": 2, "Post": 2, "Person": 6,
        "Role": 1, "Group": 1, "PartTimeIdentity": 1, "WorkflowType": 1, "Workflow": 2,
        "WorkflowNode": 7, "Request": 5, "TodoItem": 9, "InboundEvent": 17,
    }
    assert set(TodoItem.objects.values_list("data_set", flat=True)) == {"todo", "done", "over"}
    assert TodoItem.objects.filter(identity="demo-identity-wangfang-finance").exists()
    flagged = InboundEvent.objects.get(flagged=True)
    assert (flagged.receiver, flagged.flags) == ("zhaoqiang", ["unknown_receiver"])
    assert set(InboundEvent.objects.values_list("source", flat=True)) == {"demo"}


def test_it_is_idempotent_and_reports_the_second_runs_events_as_duplicates():
    demo("--password", "pw-demo-1")
    first = counts()
    states = list(TodoItem.objects.order_by("id").values())
    output = demo("--password", "pw-demo-2")
    assert counts() == first
    assert list(TodoItem.objects.order_by("id").values()) == states
    assert "todo events 0 new / 15 already there" in output
    assert "workflow events 0 new / 2 already there" in output


def test_it_prints_the_login_and_resets_the_admin_password_each_run():
    output = demo("--password", "pw-demo-1")
    token = Token.objects.get(user__username="admin")
    assert "username:  admin" in output
    assert "password:  pw-demo-1" in output
    assert token.key in output

    output = demo()  # no password given: a new random one
    admin = User.objects.get(username="admin")
    password = output.split("password:  ")[1].split()[0]
    assert password != "pw-demo-1"
    assert admin.check_password(password)
    assert admin.is_superuser and admin.is_staff
    assert Token.objects.get(user=admin).key == token.key  # the token is kept


def test_it_takes_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "pw-from-env")
    demo()
    assert User.objects.get(username="admin").check_password("pw-from-env")
