"""/api/v1/push-configs/ and /api/v1/push-types/: the same validation as the admin, secrets
write-only and masked, custom classes only when registered, decentralised scoping, and the
connection test against a real receiver on 127.0.0.1."""
import json

import pytest

from integration.models import Workflow, WorkflowType
from pushconfig.models import PushConfig
from pushconfig.transports import CUSTOM, REGISTRY

from .conftest import closed_port_url, make_config
from .test_admin_support import EN, SECRET, orgs, raw_params, scoped_api, vault

pytestmark = pytest.mark.django_db
__all__ = ["orgs", "vault"]  # fixtures, imported to be used by name

URL = "/api/v1/push-configs/"


def body(**overrides):
    data = {"identifier": "oa-main", "system_name": "主OA系统2",
            "server_url": "http://127.0.0.1:9/", "push_type": "ecology",
            "params": {"sysCode": "OA"}}
    data.update(overrides)
    return data


def send(client, method, url, data):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json", **EN)


def create(client, **overrides):
    return send(client, "post", URL, body(**overrides))


def vault_body(**overrides):
    values = {"push_type": "custom", "implementation": "test_vault",
              "params": {"account": "acct-1", "password": SECRET}}
    values.update(overrides)
    return body(**values)


# -- validation ------------------------------------------------------------------------------
def test_it_creates_a_config_disabled_by_default_with_its_parameters(api):
    r = create(api)
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["enabled"] is False
    assert data["implementation"] == "WPushEcologyRest"
    assert data["push_type_label"] == "e-cology 8/9"
    assert data["params"] == {"sysCode": "OA", "toViewRemark": False}
    assert PushConfig.objects.get(pk=data["id"]).get_params() == data["params"]


def test_it_refuses_missing_parameters_naming_each(api):
    r = create(api, params={})
    assert r.status_code == 400
    assert r.json() == {"params": {"sysCode": ["This field is required."]}}
    r = create(api, params={"sysCode": "x" * 65})
    assert list(r.json()["params"]) == ["sysCode"]
    assert not PushConfig.objects.exists()


def test_it_refuses_unknown_parameters_and_params_that_are_not_an_object(api):
    r = create(api, params={"sysCode": "OA", "syscode": "typo"})
    assert r.status_code == 400 and list(r.json()["params"]) == ["syscode"]
    r = create(api, params=["sysCode"])
    assert r.status_code == 400 and "params" in r.json()


def test_it_refuses_a_push_type_that_is_not_registered(api):
    r = create(api, push_type="nothing")
    assert r.status_code == 400 and list(r.json()) == ["push_type"]


def test_it_refuses_an_unregistered_custom_implementation_naming_it(api):
    r = create(api, push_type=CUSTOM, implementation="com.example.NotThere", params={})
    assert r.status_code == 400
    assert list(r.json()) == ["implementation"]
    assert "com.example.NotThere" in r.json()["implementation"][0]


@pytest.mark.parametrize("name, message", [
    ("12345", "may not contain only digits"),
    ("OA@#$<>", "may not contain special characters"),
])
def test_it_refuses_a_bad_system_name_naming_the_field(api, name, message):
    r = create(api, system_name=name)
    assert r.status_code == 400 and list(r.json()) == ["system_name"]
    assert message in r.json()["system_name"][0]


def test_it_accepts_chinese_letters_and_digits_in_a_system_name(api):
    assert create(api, system_name="泛微OA系统E9v2").status_code == 201


def test_it_refuses_an_identifier_already_taken_naming_the_field(api):
    assert create(api).status_code == 201
    r = create(api)
    assert r.status_code == 400 and list(r.json()) == ["identifier"]


def test_it_validates_business_statuses_per_data_set(api):
    r = create(api, intercepted_statuses={"over": ["cc"]})
    assert r.status_code == 400 and "over" in r.json()["intercepted_statuses"]
    r = create(api, intercepted_statuses={"someday": ["cc"]})
    assert r.status_code == 400
    r = create(api, business_interception="custom", intercepted_statuses={"todo": ["cc", "cc"]})
    assert r.status_code == 201
    assert r.json()["intercepted_statuses"] == {"todo": ["cc"]}


def test_it_writes_person_rules_and_interception_lists(api):
    kind = WorkflowType.objects.create(external_id="wt-1", name="行政类")
    Workflow.objects.create(workflow_id="wf-travel", name="出差申请", workflow_type=kind)
    r = create(api, person_scope="allowlist", workflow_scope="denylist",
               person_rules=[{"kind": "department", "target": "dept-9"},
                             {"kind": "everyone", "target": "x"}],
               scope_workflows=["wf-travel"], intercepted_workflow_types=["wt-1"])
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["person_rules"] == [{"kind": "department", "target": "dept-9"},
                                    {"kind": "everyone", "target": ""}]
    assert data["scope_workflows"] == ["wf-travel"]
    assert data["intercepted_workflow_types"] == ["wt-1"]
    r = create(api, identifier="other", person_rules=[{"kind": "role", "target": ""}])
    assert r.status_code == 400 and "target" in json.dumps(r.json())
    r = send(api, "patch", f"{URL}{data['id']}/", {"person_rules": []})
    assert r.json()["person_rules"] == []


# -- secrets ---------------------------------------------------------------------------------
def test_it_takes_secrets_write_only_masked_in_answers_and_encrypted_at_rest(api, vault):
    r = send(api, "post", URL, vault_body())
    assert r.status_code == 201, r.content
    assert SECRET not in r.content.decode()
    assert r.json()["params"]["password"] == "••••••1234"
    assert r.json()["implementation"] == "test_vault"
    pk = r.json()["id"]
    stored = raw_params(pk)
    assert SECRET not in stored and "fernet:" in stored
    for answer in (api.get(f"{URL}{pk}/"), api.get(URL)):
        assert SECRET not in answer.content.decode()
        assert "••••••1234" in answer.content.decode()


def test_it_keeps_a_secret_left_out_blank_or_sent_back_masked(api, vault):
    pk = send(api, "post", URL, vault_body()).json()["id"]
    url = f"{URL}{pk}/"
    r = send(api, "patch", url, {"params": {"account": "acct-2"}})
    assert r.status_code == 200, r.content
    assert PushConfig.objects.get(pk=pk).get_params()["password"] == SECRET
    masked = api.get(url).json()
    masked["params"]["account"] = "acct-3"
    r = send(api, "put", url, masked)  # the answer, sent back as it came
    assert r.status_code == 200, r.content
    r = send(api, "patch", url, {"params": {"account": "acct-4", "password": ""}})
    config = PushConfig.objects.get(pk=pk)
    assert config.get_params()["password"] == SECRET
    assert config.get_params()["account"] == "acct-4"
    send(api, "patch", url, {"params": {"account": "acct-4", "password": "REPLACED"}})
    assert PushConfig.objects.get(pk=pk).get_params()["password"] == "REPLACED"


def test_it_requires_the_secret_when_creating(api, vault):
    r = send(api, "post", URL, vault_body(params={"account": "a", "password": ""}))
    assert r.status_code == 400 and list(r.json()["params"]) == ["password"]


def test_it_revalidates_parameters_when_the_push_type_changes(api, vault):
    pk = send(api, "post", URL, vault_body()).json()["id"]
    r = send(api, "patch", f"{URL}{pk}/", {"push_type": "ecology"})
    assert r.status_code == 400 and list(r.json()["params"]) == ["sysCode"]
    r = send(api, "patch", f"{URL}{pk}/", {"push_type": "ecology", "params": {"sysCode": "E9"}})
    assert r.status_code == 200, r.content
    assert r.json()["params"] == {"sysCode": "E9", "toViewRemark": False}
    assert "fernet:" not in raw_params(pk)


# -- push types ------------------------------------------------------------------------------
def test_it_describes_every_registered_push_type_with_its_parameter_schema(api):
    r = api.get("/api/v1/push-types/", HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 200
    types = {entry["key"]: entry for entry in r.json()}
    assert set(types) == set(REGISTRY)
    for key, cls in REGISTRY.items():
        entry = types[key]
        assert entry["label"] == str(cls.label)
        assert entry["implementation"] == cls.implementation
        assert entry["push_type"] == (CUSTOM if cls.custom else key)
        assert entry["suite_params"] == list(cls.suite_params)
        fields = cls.Params().fields
        assert [p["name"] for p in entry["params"]] == list(fields)
        for param in entry["params"]:
            assert param["required"] == fields[param["name"]].required
            assert param["secret"] == (param["name"] in cls.secret_params)
    ecology = {p["name"]: p for p in types["ecology"]["params"]}
    assert ecology["sysCode"]["required"] is True and ecology["sysCode"]["help_text"]
    assert ecology["toViewRemark"] == {**ecology["toViewRemark"], "type": "boolean",
                                       "required": False, "default": False}


def test_it_describes_a_custom_class_under_the_custom_push_type(api, vault):
    types = {entry["key"]: entry for entry in api.get("/api/v1/push-types/").json()}
    entry = types["test_vault"]
    assert entry["push_type"] == "custom" and entry["custom"] is True
    region = {p["name"]: p for p in entry["params"]}["region"]
    assert region["type"] == "choice" and region["default"] == "north"
    assert [c["value"] for c in region["choices"]] == ["north", "south"]


# -- connection test -------------------------------------------------------------------------
def test_it_tests_the_connection_against_the_real_target(api, receiver):
    config = make_config(receiver.url)
    r = api.post(f"{URL}{config.pk}/test-connection")
    assert r.status_code == 200
    data = r.json()
    assert data["ok"] is True and data["http_status"] == 200
    assert "operResult" in data["response"]
    assert data["request"]["syscode"] == "OA"
    assert receiver.paths() == ["/rest/ofs/deleteUserRequestInfoByJson"]


def test_it_answers_why_a_connection_test_failed(api):
    config = make_config(closed_port_url())
    r = api.post(f"{URL}{config.pk}/test-connection/", **EN)
    assert r.status_code == 200
    assert r.json()["ok"] is False
    assert r.json()["reason"].startswith("Cannot connect to")


def test_it_needs_the_change_permission_to_test_a_connection(operator_api, receiver):
    config = make_config(receiver.url)
    viewer = operator_api("pushconfig.view_pushconfig")
    assert viewer.get(f"{URL}{config.pk}/").status_code == 200
    assert viewer.post(f"{URL}{config.pk}/test-connection").status_code == 403
    changer = operator_api("pushconfig.view_pushconfig", "pushconfig.change_pushconfig")
    assert changer.post(f"{URL}{config.pk}/test-connection").status_code == 200
    assert receiver.requests and len(receiver.requests) == 1


# -- permissions and scoping -----------------------------------------------------------------
def test_it_refuses_users_without_permissions(outsider_api):
    assert outsider_api.get(URL).status_code == 403
    assert outsider_api.get("/api/v1/push-types/").status_code == 403
    assert create(outsider_api).status_code == 403


def test_it_lists_reads_updates_and_deletes_configs(api):
    pk = create(api).json()["id"]
    listed = api.get(URL).json()
    assert [c["id"] for c in listed["results"]] == [pk]
    r = send(api, "patch", f"{URL}{pk}", {"enabled": True})
    assert r.status_code == 200 and r.json()["enabled"] is True
    assert api.delete(f"{URL}{pk}/").status_code == 204
    assert not PushConfig.objects.exists()


def test_it_shows_a_scoped_administrator_only_their_organizations_configs(api, orgs, settings):
    settings.DECENTRALISED_ADMIN = True
    north, south = orgs
    mine = make_config("http://127.0.0.1:9", identifier="north-oa", organization=north)
    theirs = make_config("http://127.0.0.1:9", identifier="south-oa", organization=south)
    client = scoped_api(north)
    assert [c["id"] for c in client.get(URL).json()["results"]] == [mine.pk]
    assert client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert send(client, "patch", f"{URL}{theirs.pk}/", {"enabled": False}).status_code == 404
    assert client.delete(f"{URL}{theirs.pk}/").status_code == 404
    assert client.post(f"{URL}{theirs.pk}/test-connection").status_code == 404
    r = create(client, organization="sc-south")
    assert r.status_code == 400 and list(r.json()) == ["organization"]
    r = create(client)
    assert r.status_code == 201 and r.json()["organization"] == "sc-north"
    r = send(client, "patch", f"{URL}{mine.pk}/", {"organization": "sc-south"})
    assert r.status_code == 400
    assert len(api.get(URL).json()["results"]) == 3  # the superuser sees every organization
