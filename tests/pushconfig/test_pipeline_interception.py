"""Interception (拦截设置): workflow-type group, workflow lists, person lists, business statuses.
Intercepted events get a record saying which rule stopped them; nothing is sent."""

import pytest

from integration.models import (
    Department,
    Group,
    PartTimeIdentity,
    Person,
    Post,
    Role,
    Subcompany,
    Workflow,
    WorkflowType,
)
from pushconfig.models import PersonRule, PushRecord
from tests.integration.helpers import todo_event

from .conftest import deliver_all, make_config
from .conftest import post_events as post

pytestmark = pytest.mark.django_db


def outcomes(config):
    return {r.receiver: (r.outcome, r.reason) for r in PushRecord.objects.filter(config=config)}


@pytest.fixture
def org(db):
    sub = Subcompany.objects.create(external_id="S1", name="总部")
    dept = Department.objects.create(external_id="D1", name="财务部", subcompany=sub)
    post_ = Post.objects.create(external_id="P1", name="会计", department=dept)
    Person.objects.create(external_id="u-lisi", login_id="lisi", name="李四",
                          department=dept, subcompany=sub, post=post_)
    wangwu = Person.objects.create(external_id="u-wangwu", login_id="wangwu", name="王五")
    Group.objects.create(external_id="G1", name="群组").members.add(wangwu)
    Role.objects.create(external_id="R1", name="审批人").members.add(wangwu)
    PartTimeIdentity.objects.create(external_id="pt-1", person=wangwu, department=dept)
    wtype = WorkflowType.objects.create(external_id="T1", name="行政")
    travel = Workflow.objects.create(workflow_id="wf-travel", name="出差", workflow_type=wtype)
    return {"dept": dept, "travel": travel, "wtype": wtype}


def test_it_writes_one_pending_record_per_enabled_config_and_none_for_disabled_ones(api, receiver):
    first = make_config(receiver.url)
    second = make_config(receiver.url, identifier="second")
    off = make_config(receiver.url, identifier="off", enabled=False)
    post(api, todo_event())
    assert PushRecord.objects.filter(config=first, outcome="pending").count() == 1
    assert PushRecord.objects.filter(config=second, outcome="pending").count() == 1
    assert not PushRecord.objects.filter(config=off).exists()


def test_it_intercepts_a_whole_workflow_type(api, receiver, org):
    config = make_config(receiver.url)
    config.intercepted_workflow_types.add(org["wtype"])
    post(api, todo_event(receiver="lisi"), todo_event(receiver="zhao", workflow_id="wf-other"))
    got = outcomes(config)
    assert got["lisi"][0] == "intercepted" and "行政" in got["lisi"][1]
    assert got["zhao"][0] == "pending"
    deliver_all(config)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("scope, listed_outcome, other_outcome", [
    ("allowlist", "pending", "intercepted"),
    ("denylist", "intercepted", "pending"),
])
def test_it_applies_the_workflow_list(api, receiver, org, scope, listed_outcome, other_outcome):
    config = make_config(receiver.url, workflow_scope=scope)
    config.scope_workflows.add(org["travel"])
    post(api, todo_event(receiver="lisi"), todo_event(receiver="zhao", workflow_id="wf-unknown"))
    got = outcomes(config)
    assert got["lisi"][0] == listed_outcome
    assert got["zhao"][0] == other_outcome


@pytest.mark.parametrize("kind, target, matches", [
    ("person", "u-lisi", {"lisi"}),
    ("department", "D1", {"lisi", "wangwu-pt"}),     # wangwu's part-time identity is in D1
    ("subcompany", "S1", {"lisi"}),
    ("post", "P1", {"lisi"}),
    ("group", "G1", {"wangwu", "wangwu-pt"}),
    ("role", "R1", {"wangwu", "wangwu-pt"}),
    ("everyone", "", {"lisi", "wangwu", "wangwu-pt", "ghost"}),
])
@pytest.mark.parametrize("scope", ["allowlist", "denylist"])
def test_it_applies_the_person_list_by_each_kind_of_entry(api, receiver, org, kind, target,
                                                           matches, scope):
    config = make_config(receiver.url, person_scope=scope)
    PersonRule.objects.create(config=config, kind=kind, target=target)
    post(api, todo_event(receiver="lisi"), todo_event(receiver="wangwu"),
         todo_event(receiver="wangwu", identity="pt-1"), todo_event(receiver="ghost"))
    records = PushRecord.objects.filter(config=config)
    for record in records:
        name = record.receiver + ("-pt" if record.identity else "")
        passes = (name in matches) == (scope == "allowlist")
        assert record.outcome == ("pending" if passes else "intercepted"), (name, record.reason)


def test_it_intercepts_custom_business_statuses_of_a_data_set(api, receiver):
    config = make_config(receiver.url, business_interception="custom",
                         intercepted_statuses={"todo": ["cc"], "done": []})
    post(api, todo_event(receiver="a", business_status="cc"), todo_event(receiver="b"))
    got = outcomes(config)
    assert got["a"][0] == "intercepted" and "cc" in got["a"][1]
    assert got["b"][0] == "pending"


def test_it_ignores_the_business_list_while_business_interception_is_off(api, receiver):
    config = make_config(receiver.url, business_interception="none",
                         intercepted_statuses={"todo": ["cc"]})
    post(api, todo_event(business_status="cc"))
    assert PushRecord.objects.get(config=config).outcome == "pending"


def test_it_applies_business_interception_before_the_duplicate_filter(api, receiver):
    """Seed: 业务拦截优先级 >> 重复过滤开关. An intercepted cc does not count as the todo sent,
    so the following forward is still pushed."""
    config = make_config(receiver.url, business_interception="custom", filter_duplicates=True,
                         intercepted_statuses={"todo": ["cc"]})
    post(api, todo_event(business_status="cc", occurred_at="2026-11-20T09:00:00+08:00"))
    post(api, todo_event(business_status="forward", occurred_at="2026-11-20T09:05:00+08:00"))
    assert list(PushRecord.objects.filter(config=config).order_by("id")
                .values_list("business_status", "outcome")) == [("cc", "intercepted"),
                                                                 ("forward", "pending")]
