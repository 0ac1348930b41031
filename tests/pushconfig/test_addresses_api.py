"""/api/v1/push-addresses/ and /api/v1/cloud-bridge: CRUD with nested parameters and bindings,
the model rules answered as 400s naming the field (clashes naming config, kind and other
address), the preview, permissions, and administrators confined to one organization."""
import json

import pytest

from pushconfig import addresses
from pushconfig.models import AddressBinding, CloudBridgeConfig, PushAddress

from .conftest import make_config
from .test_addresses_support import (
    EN,
    fixed,
    fixed_clock,
    make_address,
    oa,
    person,
    query_of,
    system,
    variable,
)
from .test_admin_support import orgs, scoped_api

pytestmark = pytest.mark.django_db
__all__ = ["oa", "orgs", "person"]  # fixtures, imported to be used by name

URL = "/api/v1/push-addresses/"


def send(client, method, url, data=None):
    return getattr(client, method)(url, json.dumps(data) if data is not None else None,
                                   content_type="application/json", **EN)


def body(**overrides):
    data = {"enabled": True, "name": "E10 单点登录", "redirect": True,
            "prefix": "https://sso.example.com/jump",
            "parameters": [fixed("appid", "oa"), system("target", "encoded_url")],
            "bindings": []}
    data.update(overrides)
    return data


@pytest.fixture
def config(db):
    return make_config("http://127.0.0.1:9/", identifier="oa-a", system_name="系统甲")


# -- CRUD ------------------------------------------------------------------------------------
def test_it_creates_an_address_with_ordered_parameters_and_bindings(api, config):
    r = send(api, "post", URL, body(parameters=[
        variable("ts", "timestamp_ms"), fixed("appid", "oa"), system("target", "encoded_url"),
        {"kind": "cloud_bridge", "source": "corp_key"}],
        bindings=[{"config": config.pk, "pc": True, "app": False, "adaptive": True}]))
    assert r.status_code == 201, r.content
    data = r.json()
    assert [p["name"] for p in data["parameters"]] == [
        "ts", "appid", "target", "wea_link_keep_ebCorpKey"]
    assert data["parameters"][0] == {"name": "ts", "remark": "", "kind": "variable",
                                     "value": "", "source": "timestamp_ms"}
    assert data["bindings"] == [{"config": config.pk, "config_identifier": "oa-a",
                                 "config_name": "系统甲", "pc": True, "app": False,
                                 "adaptive": True}]
    address = PushAddress.objects.get(pk=data["id"])
    assert [p.position for p in address.parameters.all()] == [0, 1, 2, 3]


def test_it_creates_an_address_disabled_and_without_redirect_by_default(api):
    r = send(api, "post", URL, {"name": "最简"})
    assert r.status_code == 201, r.content
    assert (r.json()["enabled"], r.json()["redirect"], r.json()["parameters"]) == (
        False, False, [])


def test_it_replaces_parameters_and_bindings_when_sent_and_keeps_them_when_not(api, config):
    address = make_address(params=[fixed("a", "1"), fixed("b", "2")], bindings=[(config, "pc")])
    r = send(api, "patch", f"{URL}{address.pk}", {"name": "改名"})
    assert r.status_code == 200, r.content
    assert [p["name"] for p in r.json()["parameters"]] == ["a", "b"]
    assert len(r.json()["bindings"]) == 1
    r = send(api, "patch", f"{URL}{address.pk}/", {"parameters": [fixed("c", "3")],
                                                   "bindings": []})
    assert r.status_code == 200, r.content
    assert [p["name"] for p in r.json()["parameters"]] == ["c"]
    assert not AddressBinding.objects.exists()


def test_it_lists_filters_and_deletes_addresses(api, config):
    make_address(name="甲", bindings=[(config, "pc")])
    make_address(name="乙", enabled=False)
    r = send(api, "get", URL + "?enabled=true")
    assert [a["name"] for a in r.json()["results"]] == ["甲"]
    gone = PushAddress.objects.get(name="甲")
    assert send(api, "delete", f"{URL}{gone.pk}").status_code == 204
    assert not AddressBinding.objects.exists()


# -- validation: 400 naming the field ----------------------------------------------------------------
@pytest.mark.parametrize("overrides,field,text", [
    ({"name": ""}, "name", "This field may not be blank."),
    ({"prefix": ""}, "prefix", "A redirecting push address needs a prefix."),
    ({"prefix": "ftp://x.example.com"}, "prefix", "relative path starting with “/”"),
    ({"prefix": "//x.example.com/a"}, "prefix", "relative path starting with “/”"),
])
def test_it_refuses_a_bad_address_naming_the_field(api, overrides, field, text):
    r = send(api, "post", URL, body(**overrides))
    assert r.status_code == 400
    assert list(r.json()) == [field]
    assert text in r.json()[field][0]


def test_it_refuses_bad_parameters_naming_the_row_and_field(api):
    r = send(api, "post", URL, body(parameters=[
        system("target", "encoded_url"), fixed("", "x"), variable("v", "tenant_key"),
        {"name": "mine", "kind": "cloud_bridge", "source": "agent_key"}]))
    assert r.status_code == 400
    errors = r.json()["parameters"]
    assert sorted(errors) == ["1", "2", "3"]           # by position, failing rows only
    assert errors["1"] == {"name": ["Name the parameter."]}
    assert "Choose one of the System variable values" in errors["2"]["source"][0]
    assert errors["3"] == {"name": [
        "A cloud-bridge parameter's name is fixed: wea_link_keep_ebAgentKey."]}


def test_it_refuses_a_redirect_without_the_encoded_url_parameter(api):
    r = send(api, "post", URL, body(parameters=[fixed("appid", "oa")]))
    assert r.status_code == 400
    assert "needs a parameter whose value is the system parameter" in r.json()["parameters"][0]
    address = make_address(params=[fixed("appid", "oa")])
    r = send(api, "patch", f"{URL}{address.pk}", {"redirect": True, "prefix": "/jump"})
    assert r.status_code == 400 and "parameters" in r.json()


def test_it_refuses_a_parameter_name_used_twice(api):
    r = send(api, "post", URL, body(parameters=[system("u", "encoded_url"), fixed("u", "1")]))
    assert r.status_code == 400
    assert r.json() == {"parameters": [
        "The parameter name “u” is used twice; each name may appear once."]}


def test_it_refuses_bindings_breaking_the_rules_naming_config_kind_and_address(api, config):
    other = make_config("http://127.0.0.1:9/", identifier="oa-b", system_name="系统乙")
    make_address(name="门户跳转", bindings=[(config, "app")])
    r = send(api, "post", URL, body(bindings=[
        {"config": config.pk, "pc": True, "app": True},
        {"config": other.pk},
        {"config": config.pk, "adaptive": True},
        {"config": 999999, "pc": True}]))
    assert r.status_code == 400
    assert list(r.json()["bindings"]) == ["3"]
    assert r.json()["bindings"]["3"]["config"][0].startswith("Invalid pk")
    r = send(api, "post", URL, body(bindings=[
        {"config": config.pk, "pc": True, "app": True},
        {"config": other.pk},
        {"config": config.pk, "adaptive": True}]))
    assert r.status_code == 400
    errors = r.json()["bindings"]
    assert errors["0"] == {"app": [
        "The push config “系统甲 (oa-a)” already takes its app address from the push address "
        "“门户跳转”; a config's app address may be set in one push address only."]}
    assert errors["1"] == {"non_field_errors": [
        "Switch on at least one of PC address, app address and adaptive address for the push "
        "config “系统乙 (oa-b)”."]}
    assert errors["2"] == {"config": [
        "The push config “系统甲 (oa-a)” is bound to this push address twice; bind a config "
        "once and switch on the addresses it takes from here."]}
    assert PushAddress.objects.count() == 1


def test_it_lets_an_address_keep_its_own_bindings_on_update(api, config):
    address = make_address(bindings=[(config, "pc app")])
    r = send(api, "put", f"{URL}{address.pk}", body(bindings=[
        {"config": config.pk, "pc": True, "app": True, "adaptive": True}]))
    assert r.status_code == 200, r.content
    assert AddressBinding.objects.get().kinds == ["pc", "app", "adaptive"]


# -- preview ---------------------------------------------------------------------------------------
def test_it_previews_the_three_addresses_of_each_bound_config(api, config, person, oa,
                                                              monkeypatch):
    monkeypatch.setattr(addresses, "now", fixed_clock)
    other = make_config("http://127.0.0.1:9/", identifier="oa-b", system_name="系统乙",
                        person_mapping="work_code")
    address = make_address(name="E10 单点登录", redirect=True, prefix="https://sso.example.com/j",
                           params=[variable("ts", "timestamp_s"), system("u", "encoded_url")],
                           bindings=[(config, "pc"), (other, "pc app adaptive")])
    make_address(name="移动端", params=[fixed("m", "1")], bindings=[(config, "app")])
    r = send(api, "post", f"{URL}{address.pk}/preview", {"request_id": "3001",
                                                        "operator": "lisi"})
    assert r.status_code == 200, r.content
    data = r.json()
    assert data["warnings"] == []
    first, second = data["results"]
    pc = "http://oa.example.com/workflow/request/ViewRequest.jsp?requestid=3001"
    app = "http://oa.example.com/mobile/plugin/1/view.jsp?requestid=3001"
    assert first["identifier"] == "oa-a" and first["receiver"] == "lisi"
    assert query_of(first["pc_url"]) == [("ts", "1795136523"), ("u", pc)]
    assert first["app_url"] == app + "&m=1"          # from the other address, as a push would
    assert first["adaptive_url"] == pc               # unbound: the OA's own link
    assert first["sources"] == {"pc": "E10 单点登录", "app": "移动端", "adaptive": None}
    assert second["receiver"] == "W042"              # mapped by the config's person mapping
    assert query_of(second["app_url"]) == [("ts", "1795136523"), ("u", app)]
    assert query_of(second["adaptive_url"]) == [("ts", "1795136523"), ("u", pc)]


def test_it_previews_a_disabled_address_as_if_enabled_with_a_warning(api, config, person):
    address = make_address(enabled=False, params=[system("t", "tenant_key"),
                                                  {"name": "", "kind": "cloud_bridge",
                                                   "source": "agent_key"}],
                           bindings=[(config, "pc")])
    r = send(api, "post", f"{URL}{address.pk}/preview", {"request_id": "1", "operator": "lisi"})
    assert r.status_code == 200, r.content
    assert "&t=&wea_link_keep_ebAgentKey=" in r.json()["results"][0]["pc_url"]
    warnings = r.json()["warnings"]
    assert any("disabled" in w for w in warnings)
    assert any("tenant key is not set" in w for w in warnings)
    assert any("agent key is not set" in w for w in warnings)


@pytest.mark.parametrize("data,field,text", [
    ({"operator": "lisi"}, "request_id", "This field is required."),
    ({"request_id": "12a", "operator": "lisi"}, "request_id", "digits only"),
    ({"request_id": "-1", "operator": "lisi"}, "request_id", "digits only"),
    ({"request_id": "１２", "operator": "lisi"}, "request_id", "digits only"),
    ({"request_id": "12"}, "operator", "This field is required."),
    ({"request_id": "12", "operator": "nobody"}, "operator", "No person with the login id"),
])
def test_it_refuses_a_preview_without_digits_or_a_known_operator(api, config, person, data,
                                                                 field, text):
    address = make_address(bindings=[(config, "pc")])
    r = send(api, "post", f"{URL}{address.pk}/preview", data)
    assert r.status_code == 400
    assert list(r.json()) == [field]
    assert text in r.json()[field][0]


# -- permissions -----------------------------------------------------------------------------------
def test_it_needs_the_push_address_permissions(outsider_api, operator_api, config, person):
    address = make_address(bindings=[(config, "pc")])
    assert send(outsider_api, "get", URL).status_code == 403
    assert send(outsider_api, "post", f"{URL}{address.pk}/preview",
                {"request_id": "1", "operator": "lisi"}).status_code == 403
    viewer = operator_api("pushconfig.view_pushaddress")
    assert send(viewer, "get", URL).status_code == 200
    assert send(viewer, "post", f"{URL}{address.pk}/preview",
                {"request_id": "1", "operator": "lisi"}).status_code == 200
    assert send(viewer, "patch", f"{URL}{address.pk}", {"name": "x"}).status_code == 403


def test_it_refuses_administrators_confined_to_one_organization(orgs, settings, config):
    settings.DECENTRALISED_ADMIN = True
    client = scoped_api(orgs[0])
    assert send(client, "get", URL).status_code == 403
    assert send(client, "get", "/api/v1/cloud-bridge").status_code == 403


# -- the cloud bridge ---------------------------------------------------------------------------
def test_it_reads_and_writes_the_one_cloud_bridge(api):
    r = send(api, "get", "/api/v1/cloud-bridge/")
    assert r.status_code == 200
    assert r.json()["agent_key"] == ""
    r = send(api, "put", "/api/v1/cloud-bridge", {"agent_key": "905296088639315968",
                                                  "corp_key": "877800227655229441",
                                                  "tenant_key": "t4dvwhryc8"})
    assert r.status_code == 200, r.content
    r = send(api, "patch", "/api/v1/cloud-bridge", {"tenant_key": "other"})
    assert r.status_code == 200, r.content
    current = CloudBridgeConfig.current()
    assert (current.agent_key, current.tenant_key) == ("905296088639315968", "other")
    assert CloudBridgeConfig.objects.count() == 1


def test_it_needs_the_cloud_bridge_permissions(outsider_api, operator_api):
    assert send(outsider_api, "get", "/api/v1/cloud-bridge").status_code == 403
    viewer = operator_api("pushconfig.view_cloudbridgeconfig")
    assert send(viewer, "get", "/api/v1/cloud-bridge").status_code == 200
    assert send(viewer, "patch", "/api/v1/cloud-bridge", {"agent_key": "1"}).status_code == 403
