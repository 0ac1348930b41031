"""Helpers shared by the push-address tests: a fixed clock, addresses built through the model
rules (as the admin and API build them), a directory person to preview for, and URL decoding."""
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from integration.models import Person
from pushconfig.models import AddressBinding, AddressParameter, PushAddress
from pushconfig.models.address import check_parameters

# 09:02:03.456 on 20 November 2026 in Asia/Shanghai, the console's time zone.
FIXED = datetime(2026, 11, 20, 1, 2, 3, 456000, tzinfo=UTC)
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def fixed_clock():
    return FIXED


def fixed(name, value, **kw):
    return {"name": name, "kind": "fixed", "value": value, **kw}


def variable(name, source):
    return {"name": name, "kind": "variable", "source": source}


def system(name, source):
    return {"name": name, "kind": "system", "source": source}


def bridge(source, name=""):
    return {"name": name, "kind": "cloud_bridge", "source": source}


def make_address(name="统一认证", enabled=True, redirect=False, prefix="", params=(),
                 bindings=()):
    """An address saved through the model rules; `bindings` are (config, "pc app …")."""
    address = PushAddress(name=name, enabled=enabled, redirect=redirect, prefix=prefix)
    address.full_clean()
    address.save()
    parameters = []
    for position, spec in enumerate(params):
        parameter = AddressParameter(address=address, position=position, **spec)
        parameter.full_clean()
        parameters.append(parameter)
    assert check_parameters(address, parameters) == {}
    for parameter in parameters:
        parameter.save()
    for config, kinds in bindings:
        binding = AddressBinding(address=address, config=config,
                                 **{kind: True for kind in kinds.split()})
        binding.full_clean()
        binding.save()
    return address


@pytest.fixture
def oa(settings):
    """The OA's own links, whatever the environment says."""
    settings.OA_BASE_URL = "http://oa.example.com"
    settings.OA_PC_URL = "{oa}/workflow/request/ViewRequest.jsp?requestid={request_id}"
    settings.OA_APP_URL = "{oa}/mobile/plugin/1/view.jsp?requestid={request_id}"
    return settings


@pytest.fixture
def person(db):
    return Person.objects.create(external_id="p-lisi", name="李四", login_id="lisi",
                                 work_code="W042", email="lisi@example.com")


def query_of(url):
    """The (name, value) pairs of a URL's query, decoded."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
