"""Building links from push addresses (pushconfig.addresses): each value kind with a fixed clock,
percent-encoding that round-trips, the encoded original URL encoded exactly once, redirect with
absolute and relative prefixes, and where parameters go in the original link."""
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pushconfig.addresses import BoundAddresses, Moment, append_query, build_url
from pushconfig.items import build_items
from pushconfig.models import AddressParameter, CloudBridgeConfig, PushAddress, PushRecord

from .conftest import make_config
from .test_addresses_support import (
    FIXED,
    bridge,
    fixed,
    fixed_clock,
    make_address,
    oa,
    query_of,
    system,
    variable,
)

__all__ = ["oa"]  # a fixture, imported to be used by name
ORIGINAL = "http://oa.example.com/workflow/request/ViewRequest.jsp?requestid=1001"


def url_of(params, original=ORIGINAL, redirect=False, prefix="", request_id="1001",
           moment=None):
    address = PushAddress(name="a", redirect=redirect, prefix=prefix)
    parameters = [AddressParameter(**spec) for spec in params]
    for parameter in parameters:
        parameter.clean()
    return build_url(address, original, request_id, moment or Moment(at=FIXED), parameters)


def raw_value(url, name):
    """A parameter's value as it stands in the URL, still encoded."""
    pairs = dict(pair.split("=", 1) for pair in urlsplit(url).query.split("&"))
    return pairs[name]


# -- value kinds, with a fixed clock -----------------------------------------------------------
@pytest.mark.parametrize("source,expected", [
    ("date", "2026-11-20"), ("time", "09:02:03"), ("datetime", "2026-11-20 09:02:03"),
    ("timestamp_ms", "1795136523456"), ("timestamp_s", "1795136523")])
def test_it_fills_each_system_variable_from_the_clock_in_the_console_time_zone(source, expected):
    url = url_of([variable("v", source)])
    assert query_of(url)[-1] == ("v", expected)


def test_it_reads_dates_in_the_console_time_zone_not_utc(settings):
    late_evening_utc = Moment(at=datetime(2026, 11, 19, 17, 30, tzinfo=UTC))
    params = [variable("d", "date"), variable("t", "time"), variable("s", "timestamp_s")]
    assert query_of(url_of(params, moment=late_evening_utc))[1:] == [
        ("d", "2026-11-20"), ("t", "01:30:00"), ("s", "1795109400")]
    settings.TIME_ZONE = "UTC"
    assert query_of(url_of(params, moment=late_evening_utc))[1:] == [
        ("d", "2026-11-19"), ("t", "17:30:00"), ("s", "1795109400")]


def test_it_fills_a_fixed_value_as_typed():
    assert query_of(url_of([fixed("appid", "oa-portal")]))[-1] == ("appid", "oa-portal")


def test_it_fills_the_system_parameters(settings):
    settings.OA_TENANT_KEY = "t4dvwhryc8"
    moment = Moment(at=FIXED, tenant_key="t4dvwhryc8")
    url = url_of([system("tenant", "tenant_key"), system("rid", "request_id"),
                  system("target", "encoded_url")], request_id="20261120", moment=moment)
    assert query_of(url)[1:] == [("tenant", "t4dvwhryc8"), ("rid", "20261120"),
                                 ("target", ORIGINAL)]


@pytest.mark.django_db
def test_it_fills_the_tenant_key_from_the_setting(settings):
    config = make_config("http://127.0.0.1:9/")
    make_address(params=[system("tenant", "tenant_key")], bindings=[(config, "pc")])
    settings.OA_TENANT_KEY = "t4dvwhryc8"
    links = BoundAddresses.for_config(config, clock=fixed_clock).links("7", "lisi")
    assert query_of(links.pc_url)[-1] == ("tenant", "t4dvwhryc8")
    settings.OA_TENANT_KEY = ""
    links = BoundAddresses.for_config(config, clock=fixed_clock).links("7", "lisi")
    assert query_of(links.pc_url)[-1] == ("tenant", "")


@pytest.mark.django_db
def test_it_fills_cloud_bridge_parameters_from_the_cloud_bridge_configuration(oa):
    CloudBridgeConfig(agent_key="905296088639315968", corp_key="877800227655229441",
                      tenant_key="t4dvwhryc8").save()
    config = make_config("http://127.0.0.1:9/")
    make_address(params=[bridge("agent_key"), bridge("corp_key"), bridge("eb_tenant_key")],
                 bindings=[(config, "pc")])
    links = BoundAddresses.for_config(config, clock=fixed_clock).links("1001", "lisi")
    assert links.pc_url == (ORIGINAL + "&wea_link_keep_ebAgentKey=905296088639315968"
                            "&wea_link_keep_ebCorpKey=877800227655229441"
                            "&wea_link_keep_ebTenantKey=t4dvwhryc8")


# -- encoding ----------------------------------------------------------------------------------
ODD = ["张三 出差申请", "a&b=c", "#top", "100%", "a b", "x+y", "%E4%BD%A0", "?q=1", "/x/y"]


@pytest.mark.parametrize("value", ODD)
def test_it_encodes_values_so_that_decoding_gives_them_back(value):
    url = url_of([fixed("v", value)])
    assert query_of(url)[-1] == ("v", value)
    assert urlsplit(url).fragment == ""        # a “#” in a value never cuts the URL
    assert unquote(raw_value(url, "v")) == value


def test_it_encodes_reserved_characters_percent_style():
    url = url_of([fixed("v", "张 &#%+/")])
    assert raw_value(url, "v") == "%E5%BC%A0%20%26%23%25%2B%2F"


def test_it_encodes_parameter_names_too():
    url = url_of([fixed("名 称&", "1")])
    assert query_of(url)[-1] == ("名 称&", "1")


@pytest.mark.parametrize("original", [
    ORIGINAL,
    "http://oa.example.com/spa/workflow/index.html?_rdm=1#/main/workflow/req?requestid=7",
    "/workflow/request/ViewRequest.jsp?requestid=7&title=张三 出差&x=100%",
    "https://oa.example.com/view?next=%2Fhome%3Fa%3D1",
])
def test_it_encodes_the_original_url_exactly_once(original):
    url = url_of([system("target", "encoded_url")], original=original, redirect=True,
                 prefix="https://sso.example.com/jump")
    assert query_of(url) == [("target", original)]        # one decoding gives it back
    assert unquote(raw_value(url, "target")) == original
    assert unquote(original) == unquote(unquote(raw_value(url, "target")))


def test_it_encodes_the_original_url_into_one_layer_of_percent_escapes():
    original = "http://oa.example.com/a?b=1"
    url = url_of([system("target", "encoded_url")], original=original, redirect=True,
                 prefix="/jump")
    assert raw_value(url, "target") == "http%3A%2F%2Foa.example.com%2Fa%3Fb%3D1"
    assert "%25" not in url


# -- redirect ----------------------------------------------------------------------------------
def test_it_builds_a_redirect_from_an_absolute_prefix_and_the_parameters():
    url = url_of([fixed("appid", "oa"), system("target", "encoded_url")], redirect=True,
                 prefix="https://sso.example.com/jump")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "sso.example.com", "/jump")
    assert query_of(url) == [("appid", "oa"), ("target", ORIGINAL)]


def test_it_builds_a_redirect_from_a_relative_prefix():
    url = url_of([system("target", "encoded_url"), system("rid", "request_id")],
                 redirect=True, prefix="/ecology/sso/jump.jsp")
    assert url.startswith("/ecology/sso/jump.jsp?target=http%3A%2F%2F")
    assert query_of(url) == [("target", ORIGINAL), ("rid", "1001")]


def test_it_keeps_a_query_the_prefix_already_has():
    url = url_of([system("target", "encoded_url")], redirect=True,
                 prefix="https://sso.example.com/jump?app=oa")
    assert query_of(url) == [("app", "oa"), ("target", ORIGINAL)]


# -- without redirect: appended to the original link -----------------------------------------------
def test_it_appends_the_parameters_to_the_original_link_after_its_own_query():
    url = url_of([fixed("a", "1"), fixed("b", "2")])
    assert url == ORIGINAL + "&a=1&b=2"


def test_it_starts_a_query_when_the_original_link_has_none():
    assert url_of([fixed("a", "1")], original="http://oa.example.com/view") == (
        "http://oa.example.com/view?a=1")


def test_it_puts_the_parameters_before_the_fragment():
    original = "http://oa.example.com/spa/index.html?_rdm=1#/main/req?requestid=7"
    url = url_of([fixed("a", "1 2")], original=original)
    assert url == "http://oa.example.com/spa/index.html?_rdm=1&a=1%202#/main/req?requestid=7"
    assert urlsplit(url).fragment == "/main/req?requestid=7"


def test_it_leaves_the_original_link_alone_without_parameters():
    assert url_of([]) == ORIGINAL


@pytest.mark.parametrize("url,expected", [
    ("http://h/p", "http://h/p?q=1"), ("http://h/p?", "http://h/p?q=1"),
    ("http://h/p?a=1&", "http://h/p?a=1&q=1"), ("http://h/p#f", "http://h/p?q=1#f"),
    ("/p?a=1#f?x", "/p?a=1&q=1#f?x")])
def test_it_joins_a_query_with_the_right_separator(url, expected):
    assert append_query(url, "q=1") == expected


# -- per config, once per batch ---------------------------------------------------------------------
def records_for(config, count):
    return [PushRecord(pk=n + 1, config=config, request_id=str(1000 + n), receiver="lisi",
                       data_set="todo", business_status="arrive", idempotency_key=f"k{n}",
                       payload={"occurred_at": "2026-11-20T09:00:00+08:00"})
            for n in range(count)]


@pytest.mark.django_db
def test_it_uses_only_enabled_addresses_and_keeps_the_oa_links_for_unbound_kinds(oa):
    config = make_config("http://127.0.0.1:9/")
    make_address(name="启用", params=[fixed("sso", "1")], bindings=[(config, "pc")])
    make_address(name="停用", enabled=False, params=[fixed("off", "1")],
                 bindings=[(config, "app")])
    links = BoundAddresses.for_config(config, clock=fixed_clock).links("7", "lisi")
    assert links.pc_url == "http://oa.example.com/workflow/request/ViewRequest.jsp?requestid=7&sso=1"
    assert links.app_url == "http://oa.example.com/mobile/plugin/1/view.jsp?requestid=7"
    assert links.adaptive_url == "http://oa.example.com/workflow/request/ViewRequest.jsp?requestid=7"
    assert links.sources["pc"].name == "启用" and links.sources["app"] is None


@pytest.mark.django_db
def test_it_offers_the_receiver_to_the_oa_link_templates(oa):
    oa.OA_PC_URL = "{oa}/view?requestid={request_id}&belongto={receiver}"
    config = make_config("http://127.0.0.1:9/")
    links = BoundAddresses.for_config(config).links("7", "lisi")
    assert links.pc_url == "http://oa.example.com/view?requestid=7&belongto=lisi"


@pytest.mark.django_db
def test_it_reads_a_configs_addresses_once_per_batch_not_per_item():
    CloudBridgeConfig(agent_key="905296088639315968").save()
    config = make_config("http://127.0.0.1:9/")
    make_address(name="PC", params=[bridge("agent_key"), variable("ts", "timestamp_ms")],
                 bindings=[(config, "pc")])
    make_address(name="APP", params=[system("rid", "request_id")], bindings=[(config, "app")])
    counts = {}
    for size in (1, 25):
        with CaptureQueriesContext(connection) as queries:
            items, _refused = build_items(config, records_for(config, size))
        counts[size] = len(queries)
        assert len(items) == size
        bindings_reads = [q for q in queries if "pushconfig_addressbinding" in q["sql"]]
        assert len(bindings_reads) == 1
    assert counts[1] == counts[25]
    assert all("wea_link_keep_ebAgentKey=905296088639315968" in i.pc_url for i in items)
    assert [query_of(i.app_url)[-1] for i in items[:2]] == [("rid", "1000"), ("rid", "1001")]
