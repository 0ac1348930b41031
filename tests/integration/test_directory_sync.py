"""Bulk upsert of the org directory and workflow catalog: /api/v1/directory/*, /catalog/*."""
import json

import pytest

from integration.models import Department, Group, PartTimeIdentity, Person, Role, Workflow

pytestmark = pytest.mark.django_db


def post(api, kind, body):
    return api.post(f"/api/v1/{kind}/", json.dumps(body), content_type="application/json")


def person(external_id, login_id, **extra):
    return {"external_id": external_id, "login_id": login_id, "name": f"员工{external_id}", **extra}


def sync_org(api):
    post(api, "directory/subcompanies", {"external_id": "S1", "name": "总部"})
    post(api, "directory/departments", [
        {"external_id": "D2", "name": "研发二组", "subcompany": "S1", "parent": "D1"},
        {"external_id": "D1", "name": "研发部", "subcompany": "S1"},
    ])


def test_it_creates_then_updates_persons_and_reports_each(api):
    r = post(api, "directory/persons", [person("p1", "zhangsan"), person("p2", "lisi")])
    assert r.status_code == 200
    assert (r.json()["created"], r.json()["updated"]) == (2, 0)
    r = post(api, "directory/persons", [person("p1", "zhangsan", email="zs@example.com",
                                               active=False)])
    assert r.json()["results"] == [{"index": 0, "key": "p1", "outcome": "updated"}]
    zs = Person.objects.get(external_id="p1")
    assert (zs.email, zs.active, zs.name) == ("zs@example.com", False, "员工p1")


def test_it_links_references_given_by_oa_ids_even_to_a_parent_later_in_the_same_call(api):
    sync_org(api)
    d2 = Department.objects.get(external_id="D2")
    assert d2.parent.external_id == "D1" and d2.subcompany.external_id == "S1"
    r = post(api, "directory/persons", person("p1", "zhangsan", department="D2", subcompany="S1"))
    assert r.status_code == 200
    assert Person.objects.get().department == d2


def test_it_clears_a_reference_sent_as_null(api):
    sync_org(api)
    post(api, "directory/departments", {"external_id": "D2", "name": "研发二组", "parent": None})
    assert Department.objects.get(external_id="D2").parent is None


def test_it_refuses_an_unknown_reference_naming_the_field(api):
    r = post(api, "directory/persons", [person("p1", "zhangsan", department="D404"),
                                        person("p2", "lisi")])
    assert r.status_code == 200
    bad = r.json()["results"][0]
    assert bad["outcome"] == "invalid" and "department" in bad["errors"]
    assert "D404" in bad["errors"]["department"][0]
    assert list(Person.objects.values_list("external_id", flat=True)) == ["p2"]


def test_it_refuses_a_single_invalid_item_with_400(api):
    r = post(api, "directory/persons", person("p1", "zhangsan", email="not-an-email"))
    assert r.status_code == 400 and "email" in r.json()
    r = post(api, "directory/persons", {"external_id": "p1", "name": "x"})
    assert r.status_code == 400 and "login_id" in r.json()


def test_it_refuses_the_same_entry_twice_in_one_call(api):
    r = post(api, "directory/persons", [person("p1", "a"), person("p1", "b")])
    assert [x["outcome"] for x in r.json()["results"]] == ["created", "invalid"]
    assert Person.objects.get().login_id == "a"


def test_it_refuses_a_login_id_that_belongs_to_another_person(api):
    post(api, "directory/persons", person("p1", "zhangsan"))
    r = post(api, "directory/persons", [person("p2", "zhangsan"), person("p3", "x"), person("p4", "x")])
    results = r.json()["results"]
    assert results[0]["outcome"] == "invalid" and "p1" in results[0]["errors"]["login_id"][0]
    assert results[2]["outcome"] == "invalid" and "login_id" in results[2]["errors"]
    # moving a login id within the same person is fine
    assert post(api, "directory/persons", person("p1", "zhangsan", name="张三")).status_code == 200


def test_it_replaces_role_and_group_members_with_the_list_sent(api):
    post(api, "directory/persons", [person("p1", "a"), person("p2", "b"), person("p3", "c")])
    post(api, "directory/roles", {"external_id": "R1", "name": "审批人", "members": ["p1", "p2"]})
    assert set(Role.objects.get().members.values_list("external_id", flat=True)) == {"p1", "p2"}
    post(api, "directory/roles", {"external_id": "R1", "name": "审批人", "members": ["p3"]})
    assert list(Role.objects.get().members.values_list("external_id", flat=True)) == ["p3"]
    post(api, "directory/roles", {"external_id": "R1", "name": "改名"})  # no members key: kept
    assert Role.objects.get().members.count() == 1
    r = post(api, "directory/groups", {"external_id": "G1", "name": "群组", "members": ["p1", "nobody"]})
    assert r.status_code == 400 and "nobody" in r.json()["members"][0]
    assert not Group.objects.exists()


def test_it_syncs_part_time_identities_of_a_person(api):
    sync_org(api)
    post(api, "directory/persons", person("p1", "zhangsan"))
    r = post(api, "directory/identities", {"external_id": "pt1", "person": "p1", "department": "D1"})
    assert r.status_code == 200
    identity = PartTimeIdentity.objects.get()
    assert identity.person.login_id == "zhangsan" and identity.department.external_id == "D1"
    r = post(api, "directory/identities", {"external_id": "pt2", "person": "p404"})
    assert r.status_code == 400 and "person" in r.json()


def test_it_syncs_workflows_with_their_nodes_in_order(api):
    post(api, "catalog/workflow-types", {"external_id": "T1", "name": "行政"})
    body = {"workflow_id": "wf1", "name": "出差申请", "workflow_type": "T1",
            "nodes": [{"node_id": "n1", "name": "申请"}, {"node_id": "n2", "name": "审批"}]}
    assert post(api, "catalog/workflows", body).status_code == 200
    wf = Workflow.objects.get()
    assert list(wf.nodes.values_list("name", flat=True)) == ["申请", "审批"]
    body["nodes"] = [{"node_id": "n3", "name": "归档"}]
    post(api, "catalog/workflows", body)
    assert list(wf.nodes.values_list("node_id", flat=True)) == ["n3"]
    r = api.get("/api/v1/catalog/workflows/wf1/")
    assert r.json()["workflow_type"] == "T1" and r.json()["nodes"][0]["name"] == "归档"


def test_it_refuses_repeated_node_ids(api):
    r = post(api, "catalog/workflows", {"workflow_id": "wf1", "name": "x",
                                        "nodes": [{"node_id": "n1", "name": "a"},
                                                  {"node_id": "n1", "name": "b"}]})
    assert r.status_code == 400 and "nodes" in r.json()


def test_it_lists_persons_with_search_and_filters(api):
    post(api, "directory/persons", [person("p1", "zhangsan", name="张三"),
                                    person("p2", "lisi", name="李四", active=False)])
    r = api.get("/api/v1/directory/persons/", {"search": "张"})
    assert [p["login_id"] for p in r.json()["results"]] == ["zhangsan"]
    r = api.get("/api/v1/directory/persons/", {"active": "false"})
    assert [p["login_id"] for p in r.json()["results"]] == ["lisi"]


def test_it_refuses_more_than_1000_items(api):
    r = post(api, "directory/persons", [person(f"p{i}", f"u{i}") for i in range(1001)])
    assert r.status_code == 400
    assert not Person.objects.exists()


def test_it_moves_updated_at_when_an_entry_is_updated(api):
    post(api, "directory/persons", person("p1", "zhangsan"))
    first = Person.objects.get().updated_at
    post(api, "directory/persons", person("p1", "zhangsan", name="张三"))
    assert Person.objects.get().updated_at > first
