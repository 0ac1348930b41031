"""The rules of push addresses, their parameters and bindings, as the model states them (the
admin and the API use the same checks): each violation is refused with a message naming the
field and, for clashes, the config, the URL kind and the other address."""
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from pushconfig.models import AddressBinding, AddressParameter, CloudBridgeConfig, PushAddress
from pushconfig.models.address import check_bindings, check_parameters

from .conftest import make_config
from .test_addresses_support import bridge, fixed, make_address, system, variable

pytestmark = pytest.mark.django_db


def errors_of(obj):
    with pytest.raises(ValidationError) as caught:
        obj.full_clean()
    return caught.value.message_dict


def configs():
    return (make_config("http://127.0.0.1:9/", identifier="oa-a", system_name="系统甲"),
            make_config("http://127.0.0.1:9/", identifier="oa-b", system_name="系统乙"))


# -- the address -------------------------------------------------------------------------------
def test_it_creates_an_address_disabled_and_without_redirect_by_default():
    address = PushAddress(name="统一认证")
    address.full_clean()
    assert address.enabled is False and address.redirect is False


def test_it_requires_a_name():
    assert "name" in errors_of(PushAddress(name=""))


@pytest.mark.parametrize("prefix", ["http://www.example.com", "https://sso.example.com/jump",
                                    "https://sso.example.com/jump?app=oa", "/ecology",
                                    "/ecology/sso/jump.jsp"])
def test_it_accepts_an_absolute_or_relative_prefix(prefix):
    PushAddress(name="a", redirect=True, prefix=prefix).full_clean()


@pytest.mark.parametrize("prefix", ["ftp://files.example.com", "www.example.com", "ecology",
                                    "//evil.example.com/x", "/eco logy", "javascript:alert(1)"])
def test_it_refuses_a_prefix_that_is_neither_absolute_http_nor_a_relative_path(prefix):
    errors = errors_of(PushAddress(name="a", redirect=True, prefix=prefix))
    assert list(errors) == ["prefix"]
    assert "relative path" in errors["prefix"][0]


def test_it_requires_a_prefix_when_redirect_is_on_only():
    errors = errors_of(PushAddress(name="a", redirect=True, prefix=""))
    assert errors == {"prefix": ["A redirecting push address needs a prefix."]}
    PushAddress(name="a", redirect=False, prefix="").full_clean()


# -- parameters --------------------------------------------------------------------------------
def test_it_requires_a_parameter_name_except_for_cloud_bridge_parameters():
    address = make_address()
    errors = errors_of(AddressParameter(address=address, **fixed("  ", "x")))
    assert errors == {"name": ["Name the parameter."]}
    parameter = AddressParameter(address=address, **bridge("agent_key"))
    parameter.full_clean()
    assert parameter.name == "wea_link_keep_ebAgentKey"


def test_it_fixes_the_names_of_cloud_bridge_parameters_whatever_was_typed():
    address = make_address()
    expected = {"agent_key": "wea_link_keep_ebAgentKey", "corp_key": "wea_link_keep_ebCorpKey",
                "eb_tenant_key": "wea_link_keep_ebTenantKey"}
    for source, name in expected.items():
        parameter = AddressParameter(address=address, **bridge(source, name="renamed"))
        parameter.full_clean()
        assert parameter.name == name


@pytest.mark.parametrize("kind,source", [("variable", ""), ("variable", "request_id"),
                                         ("system", "date"), ("system", "agent_key"),
                                         ("cloud_bridge", "tenant_key"), ("cloud_bridge", "")])
def test_it_refuses_a_source_that_does_not_belong_to_the_value_kind(kind, source):
    address = make_address()
    errors = errors_of(AddressParameter(address=address, name="p", kind=kind, source=source))
    assert list(errors) == ["source"]
    assert "Choose one of the" in errors["source"][0]


def test_it_keeps_only_the_value_the_kind_uses():
    address = make_address()
    fixed_row = AddressParameter(address=address, name="a", kind="fixed", value="1",
                                 source="date")
    fixed_row.full_clean()
    assert (fixed_row.value, fixed_row.source) == ("1", "")
    variable_row = AddressParameter(address=address, name="b", kind="variable", value="stale",
                                    source="date")
    variable_row.full_clean()
    assert (variable_row.value, variable_row.source) == ("", "date")


def test_it_refuses_a_parameter_name_used_twice_naming_it():
    address = PushAddress(name="a")
    rows = [AddressParameter(**fixed("appid", "1")), AddressParameter(**fixed("appid", "2"))]
    assert check_parameters(address, rows) == {"parameters": (
        "The parameter name “appid” is used twice; each name may appear once.")}


def test_it_requires_the_encoded_url_parameter_on_a_redirecting_address():
    address = PushAddress(name="a", redirect=True, prefix="/jump")
    rows = [AddressParameter(**system("rid", "request_id"))]
    problem = check_parameters(address, rows)
    assert "needs a parameter whose value is the system parameter" in problem["parameters"]
    assert "Encoded original URL" in problem["parameters"]
    rows.append(AddressParameter(**system("target", "encoded_url")))
    assert check_parameters(address, rows) == {}
    assert check_parameters(PushAddress(name="b"), rows[:1]) == {}


def test_it_keeps_parameters_in_their_order():
    address = make_address(params=[fixed("z", "1"), fixed("a", "2"), variable("m", "date")])
    assert [p.name for p in address.parameters.all()] == ["z", "a", "m"]


# -- the cloud bridge ---------------------------------------------------------------------------
def test_it_keeps_one_cloud_bridge_configuration():
    assert CloudBridgeConfig.current().agent_key == ""
    CloudBridgeConfig(agent_key="905296088639315968").save()
    CloudBridgeConfig(agent_key="1", corp_key="877800227655229441").save()
    assert CloudBridgeConfig.objects.count() == 1
    current = CloudBridgeConfig.current()
    assert (current.agent_key, current.corp_key) == ("1", "877800227655229441")


# -- bindings ----------------------------------------------------------------------------------
def test_it_requires_at_least_one_address_switch_on():
    config, _other = configs()
    address = make_address()
    errors = errors_of(AddressBinding(address=address, config=config))
    assert errors == {"__all__": [
        "Switch on at least one of PC address, app address and adaptive address for the push "
        "config “系统甲 (oa-a)”."]}


def test_it_refuses_a_config_bound_twice_to_one_address_naming_it():
    config, _other = configs()
    address = make_address(bindings=[(config, "pc")])
    errors = errors_of(AddressBinding(address=address, config=config, app=True))
    assert errors == {"__all__": [
        "The push config “系统甲 (oa-a)” is bound to this push address twice; bind a config once "
        "and switch on the addresses it takes from here."]}
    rows = [AddressBinding(config=config, pc=True), AddressBinding(config=config, app=True)]
    assert check_bindings(None, rows)[1] == {"config": (
        "The push config “系统甲 (oa-a)” is bound to this push address twice; bind a config once "
        "and switch on the addresses it takes from here.")}


@pytest.mark.parametrize("kind,label", [("pc", "PC address"), ("app", "app address"),
                                        ("adaptive", "adaptive address")])
def test_it_refuses_a_configs_address_kind_set_in_two_addresses_naming_the_clash(kind, label):
    config, _other = configs()
    make_address(name="E10 单点登录", bindings=[(config, kind)])
    second = make_address(name="门户跳转")
    errors = errors_of(AddressBinding(address=second, config=config, **{kind: True}))
    assert errors == {kind: [
        f"The push config “系统甲 (oa-a)” already takes its {label} from the push address "
        f"“E10 单点登录”; a config's {label} may be set in one push address only."]}


def test_it_lets_one_config_take_each_kind_from_a_different_address():
    config, other = configs()
    make_address(name="PC", bindings=[(config, "pc"), (other, "pc app adaptive")])
    make_address(name="APP", bindings=[(config, "app")])
    make_address(name="自适应", bindings=[(config, "adaptive")])
    assert AddressBinding.objects.filter(config=config).count() == 3


def test_it_ignores_the_address_own_bindings_when_they_are_replaced():
    config, _other = configs()
    address = make_address(bindings=[(config, "pc app")])
    assert check_bindings(address, [AddressBinding(config=config, pc=True)]) == [{}]
    elsewhere = check_bindings(None, [AddressBinding(config=config, pc=True)])
    assert "already takes its PC address" in elsewhere[0]["pc"]


def test_it_enforces_the_binding_rules_in_the_database_too():
    config, _other = configs()
    first = make_address(name="一", bindings=[(config, "pc")])
    second = make_address(name="二")
    for values in ({"address": second, "pc": True},         # PC address taken by "一"
                   {"address": first, "app": True},         # bound twice to "一"
                   {"address": second}):                    # no switch on
        with pytest.raises(IntegrityError), transaction.atomic():
            AddressBinding.objects.create(config=config, **values)
