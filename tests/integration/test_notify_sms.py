"""The SMS channel through an HTTP gateway, against a receiver on 127.0.0.1."""
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError

from integration.models import SmsGateway
from integration.notify import get_channel
from tests.receivers import Answer

from .test_notify_support import person, sms_gateway, sms_receiver

pytestmark = pytest.mark.django_db
__all__ = ["sms_receiver"]  # fixtures, imported to be used by name
TEXT = '熔断 "主OA": {重要}\n请处理'


def test_it_sends_one_call_per_mobile_with_the_template_filled_and_the_token(sms_receiver):
    sms_gateway(sms_receiver.url)
    a, b = person(mobile="13800000001"), person(mobile="13800000002")
    nobody = person("nomobile", mobile="")
    result = get_channel("sms").send([a, b, nobody], "subject, not sent", TEXT)
    assert result.ok and result.reached == [a.pk, b.pk]
    assert "nomobile" in result.detail
    bodies = [r.json() for r in sms_receiver.requests]
    assert bodies == [{"phone": "13800000001", "text": TEXT, "sign": "OA"},
                      {"phone": "13800000002", "text": TEXT, "sign": "OA"}]
    assert {r.headers["X-Api-Key"] for r in sms_receiver.requests} == {"sms-token-1"}
    assert {r.method for r in sms_receiver.requests} == {"POST"}


def test_it_sends_all_mobiles_in_one_call_with_mobiles(sms_receiver):
    sms_gateway(sms_receiver.url, body_template='{"to": "{mobiles}", "msg": "{content}"}')
    get_channel("sms").send([person(mobile="1381"), person(mobile="1382")], "s", "hi")
    [call] = sms_receiver.requests
    assert call.json() == {"to": "1381,1382", "msg": "hi"}


def test_it_sends_the_template_as_query_parameters_with_get(sms_receiver):
    sms_gateway(sms_receiver.url, method="GET", token_header="", token="")
    get_channel("sms").send([person(mobile="13800000009")], "s", "hi")
    [call] = sms_receiver.requests
    assert call.method == "GET" and "X-Api-Key" not in call.headers
    assert parse_qs(urlsplit(call.path).query) == {"phone": ["13800000009"], "text": ["hi"],
                                                   "sign": ["OA"]}


def test_it_fails_when_the_gateway_does_not_confirm(sms_receiver):
    sms_gateway(sms_receiver.url)
    sms_receiver.answer = Answer(body={"code": "1001", "msg": "balance"})
    result = get_channel("sms").send([person()], "s", "c")
    assert not result.ok and not result.permanent and "1001" in result.detail


def test_it_takes_any_2xx_as_sent_without_a_success_field(sms_receiver):
    sms_gateway(sms_receiver.url, success_field="", success_value="")
    sms_receiver.answer = Answer(body="queued")
    assert get_channel("sms").send([person()], "s", "c").ok


def test_it_reports_whom_it_reached_before_a_transient_failure(sms_receiver):
    sms_gateway(sms_receiver.url)
    a, b, c = person(mobile="1"), person(mobile="2"), person(mobile="3")

    def answer(got):
        return Answer(503, "busy") if got.json()["phone"] == "2" else Answer(body={"code": "0"})

    sms_receiver.answer = answer
    result = get_channel("sms").send([a, b, c], "s", "c")
    assert not result.ok and not result.permanent and "503" in result.detail
    assert result.reached == [a.pk]
    assert [r.json()["phone"] for r in sms_receiver.requests] == ["1", "2"]


def test_it_reports_a_refusal_as_permanent(sms_receiver):
    sms_gateway(sms_receiver.url)
    sms_receiver.answer = Answer(401, {"error": "bad key"})
    result = get_channel("sms").send([person()], "s", "c")
    assert not result.ok and result.permanent and "401" in result.detail


def test_it_fails_permanently_without_an_enabled_gateway(sms_receiver):
    sms_gateway(sms_receiver.url, enabled=False)
    result = get_channel("sms").send([person()], "s", "c")
    assert not result.ok and result.permanent
    assert sms_receiver.requests == []


@pytest.mark.parametrize("fields, field", [
    ({"body_template": "{not json"}, "body_template"),
    ({"body_template": '["{mobile}", "{content}"]'}, "body_template"),
    ({"body_template": '{"to": "{mobile}"}'}, "body_template"),
    ({"token_header": ""}, "token_header"),
    ({"success_value": ""}, "success_value"),
])
def test_it_refuses_an_unusable_gateway_naming_the_field(fields, field):
    values = {"name": "g", "url": "http://127.0.0.1:9/sms", "token_header": "X-Key",
              "token": "t", "success_field": "code", "success_value": "0", **fields}
    with pytest.raises(ValidationError) as refused:
        SmsGateway(**values).full_clean()
    assert field in refused.value.message_dict


def test_it_keeps_the_documented_default_template_valid():
    gateway = SmsGateway(name="g", url="http://127.0.0.1:9/sms")
    gateway.full_clean()
    assert set(json.loads(gateway.body_template)) == {"mobile", "content"}
