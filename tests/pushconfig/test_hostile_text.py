"""Text PostgreSQL cannot take (a NUL character, a lone surrogate) and numbers jsonb cannot
take (NaN, 1e400): refused with a 400 naming the field before any query sees them, or, in the
sandbox, which records whatever arrives, stored cleaned. Never a 500."""
import json

import pytest
from django.urls import reverse

from pushconfig.models import PushConfig, SandboxArrival

from .conftest import make_config
from .test_addresses_support import EN, make_address, person

pytestmark = pytest.mark.django_db
__all__ = ["person"]  # a fixture, imported to be used by name

NUL = "Null characters are not allowed."
SURROGATE = "Text holds an unpaired surrogate character."
BAD_TEXT = [("li\x00si", NUL), ("\ud800", SURROGATE)]


def send(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json", **EN)


@pytest.fixture
def config(db):
    return make_config("http://127.0.0.1:9/", identifier="oa-a", system_name="系统甲")


# -- the push-address preview --------------------------------------------------------------
@pytest.mark.parametrize(("operator", "message"), [
    ("li\x00si", NUL), ("\ud800", "Surrogate characters are not allowed: U+D800.")])
def test_the_preview_api_refuses_an_operator_it_cannot_look_up(api, config, person, operator,
                                                                message):
    address = make_address(bindings=[(config, "pc")])
    r = send(api, f"/api/v1/push-addresses/{address.pk}/preview",
             {"request_id": "12", "operator": operator})
    assert r.status_code == 400, r.content
    assert r.json() == {"operator": [message]}  # said once, by the field's own check


def test_the_preview_page_refuses_an_operator_it_cannot_look_up(client, admin, config, person):
    client.force_login(admin)
    address = make_address(bindings=[(config, "pc")])
    page = client.get(reverse("admin:pushconfig_pushaddress_preview", args=[address.pk]),
                      {"request_id": "1", "operator": "li\x00si"}, **EN).content.decode()
    assert page.count(NUL) == 1
    assert "No person with the login id" not in page  # not looked up at all
    assert "address-preview-url" not in page


# -- push configs: the fields naming other records -------------------------------------------
@pytest.mark.parametrize("field", ["organization", "scope_workflows",
                                   "intercepted_workflow_types", "alert_persons",
                                   "alert_roles"])
@pytest.mark.parametrize(("text", "message"), BAD_TEXT)
def test_a_push_config_refuses_a_reference_it_cannot_look_up(api, field, text, message):
    value = text if field == "organization" else [text]
    r = send(api, "/api/v1/push-configs/", {
        "identifier": "oa-main", "system_name": "主OA系统2", "server_url": "http://127.0.0.1:9/",
        "push_type": "ecology", "params": {"sysCode": "OA"}, field: value})
    assert r.status_code == 400, r.content
    assert list(r.json()) == [field]
    assert r.json()[field] == [message]
    assert not PushConfig.objects.exists()


# -- the sandbox ---------------------------------------------------------------------------
def test_the_sandbox_stores_an_operation_and_path_holding_a_nul_character(client):
    r = client.post("/sandbox/webhook/a%00b?x=%00", {"k": "v"})
    assert r.status_code == 200
    r = client.post("/sandbox/ecology/rest/ofs/a%00b", "{}", content_type="application/json")
    assert r.status_code == 404  # no such operation, and the answer says which
    webhook, ecology = SandboxArrival.objects.order_by("id")
    assert webhook.operation == "a\ufffdb" and webhook.path.startswith("/sandbox/webhook/a\ufffdb")
    assert ecology.operation == "a\ufffdb" and "\x00" not in ecology.answer


@pytest.mark.parametrize(("raw", "stored"), [
    (b'{"n": NaN, "list": [Infinity, -Infinity]}', {"n": "NaN", "list": ["Infinity", "-Infinity"]}),
    (b'{"n": 1e400, "ok": 1.5}', {"n": "Infinity", "ok": 1.5}),
])
def test_the_sandbox_stores_numbers_jsonb_refuses_as_their_spelling(client, raw, stored):
    r = client.post("/sandbox/webhook/x", raw, content_type="application/json")
    assert r.status_code == 200
    assert SandboxArrival.objects.get().body == stored
