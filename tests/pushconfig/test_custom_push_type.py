"""Custom push classes (seed 002, "自定义推送"): a class registered with `custom = True` is
chosen with push type "custom" and its key as the implementation; any other name is refused
when the config is validated, and nothing named in the form is ever imported."""
import json
import sys

import pytest
from django.core.exceptions import ValidationError
from rest_framework import serializers

from pushconfig.models import PushAttempt, PushConfig, PushRecord
from pushconfig.transports import (
    REGISTRY,
    Delivery,
    Transport,
    custom_choices,
    push_type_choices,
    register,
)
from tests.integration.helpers import todo_event

from .conftest import deliver_all, make_config

pytestmark = pytest.mark.django_db


class EchoParams(serializers.Serializer):
    channel = serializers.CharField()


class EchoTransport(Transport):
    """The smallest useful custom class: one JSON POST per item to <server URL>/echo."""

    key = "test.custom"
    label = "Test custom"
    implementation = "test.custom"
    custom = True
    Params = EchoParams

    def send_one(self, item):
        body = {"channel": self.params["channel"], "request": item.request_id,
                "receiver": item.receiver, "data_set": item.data_set}
        response = self.http("POST", self.base_url + "/echo", json=body)
        return Delivery(True, http_status=response.status_code, request=body,
                        response=response.text)


@pytest.fixture(autouse=True, scope="module")
def registered():
    """Registered for this module only: the registry is process-wide."""
    register(EchoTransport)
    yield EchoTransport
    REGISTRY.pop(EchoTransport.key, None)


def unsaved(**values):
    return PushConfig(**{"enabled": True, "identifier": "custom1", "system_name": "自定义系统",
                         "server_url": "http://127.0.0.1:9", **values})


def test_it_lists_a_custom_class_under_custom_only():
    assert ("test.custom", "Test custom") in custom_choices()
    assert "test.custom" not in dict(push_type_choices())
    assert "custom" in dict(push_type_choices())


def test_it_validates_and_delivers_through_a_registered_custom_class(api, receiver):
    config = make_config(receiver.url, push_type="custom", implementation="test.custom",
                         params={"channel": "ops"})
    assert (config.push_type, config.implementation) == ("custom", "test.custom")
    assert config.transport_class is EchoTransport
    r = api.post("/api/v1/todo-events/", json.dumps([todo_event()]),
                 content_type="application/json")
    assert r.status_code in (200, 201), r.content
    deliver_all(config)

    (got,) = receiver.requests
    assert got.path == "/echo"
    assert got.json() == {"channel": "ops", "request": "1001", "receiver": "lisi",
                          "data_set": "todo"}
    record = PushRecord.objects.get(config=config)
    assert record.outcome == "success"
    assert PushAttempt.objects.get(record=record).request["channel"] == "ops"


@pytest.mark.parametrize("name", [
    "os.system",
    "pushconfig.transports.e10.E10Transport",
    "e10",  # registered, but a built-in push type, not a custom class
    "antigravity.Fly",
    "",
])
def test_it_refuses_an_implementation_that_is_not_a_registered_custom_class(name):
    before = set(sys.modules)
    config = unsaved(push_type="custom", implementation=name)
    with pytest.raises(ValidationError) as refused:
        config.full_clean()
    assert "implementation" in refused.value.message_dict
    assert "push_type" not in refused.value.message_dict
    assert set(sys.modules) == before  # the name was looked up, never imported


def test_it_refuses_a_custom_key_used_as_a_push_type():
    config = unsaved(push_type="test.custom")
    with pytest.raises(ValidationError) as refused:
        config.full_clean()
    assert "push_type" in refused.value.message_dict


def test_it_refuses_to_register_a_taken_or_reserved_key():
    with pytest.raises(ValueError):
        register(EchoTransport)
    reserved = type("Reserved", (EchoTransport,), {"key": "custom"})
    with pytest.raises(ValueError):
        register(reserved)


class FormParams(serializers.Serializer):
    api_key = serializers.CharField()


class FormTransport(Transport):
    """A custom class that posts a form and nests its credentials."""

    key = "test.form"
    custom = True
    Params = FormParams
    secret_params = ("api_key",)


def test_the_log_masks_secrets_at_any_depth_and_in_text_bodies():
    transport = FormTransport(unsaved(), {"api_key": "key+01234/56789"})
    logged = transport.mask({
        "auth": {"password": "pa55word", "user": "ops"},
        "items": [{"token": "tok-abcdef"}, "api_key=key+01234/56789"],
        "body": "user=ops&api_key=key%2B01234%2F56789&n=1",
    })
    text = json.dumps(logged)
    assert not any(s in text for s in ("pa55word", "tok-abcdef", "01234"))
    assert logged["auth"]["user"] == "ops" and logged["body"].startswith("user=ops&api_key=")
