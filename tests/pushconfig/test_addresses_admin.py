"""The admin of push addresses: the list, the form with ordered parameters and bound configs
(the model rules, with messages naming the clash), bulk enable/disable, the preview page, the
one cloud-bridge configuration, and administrators confined to one organization."""
import pytest
from django.urls import reverse

from pushconfig import addresses
from pushconfig.models import AddressBinding, CloudBridgeConfig, PushAddress

from .conftest import make_config
from .test_addresses_support import (
    EN,
    bridge,
    fixed,
    fixed_clock,
    make_address,
    oa,
    person,
    system,
    variable,
)
from .test_admin_support import orgs, scoped_user

pytestmark = pytest.mark.django_db
__all__ = ["oa", "orgs", "person"]  # fixtures, imported to be used by name

ADD = reverse("admin:pushconfig_pushaddress_add")
CHANGELIST = reverse("admin:pushconfig_pushaddress_changelist")


def change_url(address):
    return reverse("admin:pushconfig_pushaddress_change", args=[address.pk])


def preview_url(address):
    return reverse("admin:pushconfig_pushaddress_preview", args=[address.pk])


@pytest.fixture
def staff(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def config(db):
    return make_config("http://127.0.0.1:9/", identifier="oa-a", system_name="系统甲")


def inline(prefix, rows, initial=0):
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    for n, row in enumerate(rows):
        data.update({f"{prefix}-{n}-{key}": value for key, value in row.items()})
    return data


def form_data(parameters=(), bindings=(), **overrides):
    data = {"enabled": "on", "name": "E10 单点登录", "redirect": "on",
            "prefix": "https://sso.example.com/jump"}
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    data.update(inline("parameters", parameters))
    data.update(inline("bindings", bindings))
    return data


def param_row(position, name, kind="fixed", value="", source=""):
    return {"position": str(position), "name": name, "remark": "", "kind": kind, "value": value,
            "source": source}


def errors_in(page):
    return "errornote" in page or "errorlist" in page


# -- list --------------------------------------------------------------------------------------
def test_it_lists_addresses_with_their_bound_configs_and_a_preview_button(staff, config):
    address = make_address(name="E10 单点登录", redirect=True, prefix="/ecology/jump",
                           params=[system("u", "encoded_url")],
                           bindings=[(config, "pc adaptive")])
    page = staff.get(CHANGELIST, **EN).content.decode()
    assert "E10 单点登录" in page and "/ecology/jump" in page
    assert "系统甲 (oa-a) <small>(PC address, adaptive address)</small>" in page
    assert f'href="{preview_url(address)}"' in page


def test_it_enables_and_disables_addresses_in_bulk(staff):
    first, second = make_address(name="一", enabled=False), make_address(name="二", enabled=False)
    staff.post(CHANGELIST, {"action": "enable_addresses",
                            "_selected_action": [first.pk, second.pk]}, **EN)
    assert set(PushAddress.objects.values_list("enabled", flat=True)) == {True}
    staff.post(CHANGELIST, {"action": "disable_addresses", "_selected_action": [first.pk]},
               **EN)
    assert not PushAddress.objects.get(pk=first.pk).enabled


# -- the form ----------------------------------------------------------------------------------
def test_it_adds_an_address_with_ordered_parameters_and_a_binding(staff, config):
    r = staff.post(ADD, form_data(
        parameters=[param_row(2, "target", "system", source="encoded_url"),
                    param_row(1, "appid", value="门户"),
                    param_row(3, "", "cloud_bridge", source="agent_key"),
                    param_row(4, "ts", "variable", source="timestamp_ms")],
        bindings=[{"config": str(config.pk), "pc": "on", "adaptive": "on"}]), **EN)
    assert r.status_code == 302, r.content.decode()[:3000]
    address = PushAddress.objects.get()
    assert [(p.name, p.kind) for p in address.parameters.all()] == [
        ("appid", "fixed"), ("target", "system"), ("wea_link_keep_ebAgentKey", "cloud_bridge"),
        ("ts", "variable")]
    assert AddressBinding.objects.get().kinds == ["pc", "adaptive"]


def test_it_shows_the_name_of_a_cloud_bridge_parameter_as_not_editable(staff):
    address = make_address(params=[bridge("corp_key"), fixed("a", "1")])
    page = staff.get(change_url(address), **EN).content.decode()

    def name_input(n):
        return page.split(f'name="parameters-{n}-name"')[1].split(">")[0]

    assert 'value="wea_link_keep_ebCorpKey"' in name_input(0)
    assert "disabled" in name_input(0)
    assert "disabled" not in name_input(1)


def test_it_keeps_a_cloud_bridge_name_fixed_when_its_key_changes(staff):
    address = make_address(redirect=False, params=[bridge("corp_key")])
    parameter = address.parameters.get()
    data = form_data(redirect=None, prefix="", parameters=[
        {**param_row(0, "typed", "cloud_bridge", source="agent_key"), "id": str(parameter.pk),
         "address": str(address.pk)}])
    data["parameters-INITIAL_FORMS"] = "1"
    r = staff.post(change_url(address), data, **EN)
    assert r.status_code == 302, r.content.decode()[:3000]
    assert address.parameters.get().name == "wea_link_keep_ebAgentKey"


def test_it_requires_a_prefix_when_redirect_is_on(staff):
    page = staff.post(ADD, form_data(prefix="", parameters=[
        param_row(0, "u", "system", source="encoded_url")]), **EN).content.decode()
    assert "A redirecting push address needs a prefix." in page
    assert not PushAddress.objects.exists()


def test_it_refuses_a_redirect_without_the_encoded_url_parameter(staff):
    page = staff.post(ADD, form_data(parameters=[param_row(0, "appid", value="1")]),
                      **EN).content.decode()
    assert "needs a parameter whose value is the system parameter" in page
    assert not PushAddress.objects.exists()


def test_it_refuses_a_parameter_without_a_name_or_with_the_wrong_source(staff):
    page = staff.post(ADD, form_data(redirect=None, parameters=[
        param_row(0, "", value="1"), param_row(1, "v", "system", source="date")]),
        **EN).content.decode()
    assert "Name the parameter." in page
    assert "Choose one of the System parameter values" in page
    assert not PushAddress.objects.exists()


def test_it_refuses_a_binding_clash_naming_the_config_kind_and_other_address(staff, config):
    make_address(name="门户跳转", bindings=[(config, "app")])
    page = staff.post(ADD, form_data(redirect=None, bindings=[
        {"config": str(config.pk), "pc": "on", "app": "on"}]), **EN).content.decode()
    assert ("The push config “系统甲 (oa-a)” already takes its app address from the push "
            "address “门户跳转”") in page
    assert PushAddress.objects.count() == 1


def test_it_refuses_a_config_bound_twice_and_a_binding_without_a_switch(staff, config):
    page = staff.post(ADD, form_data(redirect=None, bindings=[
        {"config": str(config.pk), "pc": "on"}, {"config": str(config.pk), "app": "on"}]),
        **EN).content.decode()
    assert "The push config “系统甲 (oa-a)” is bound to this push address twice" in page
    assert "must be unique" not in page
    page = staff.post(ADD, form_data(redirect=None, bindings=[{"config": str(config.pk)}]),
                      **EN).content.decode()
    assert "Switch on at least one of PC address, app address and adaptive address" in page
    assert not PushAddress.objects.exists()


def test_it_refuses_binding_a_config_again_on_the_address_naming_it(staff, config):
    address = make_address(redirect=False, bindings=[(config, "pc")])
    binding = AddressBinding.objects.get()
    data = form_data(redirect=None, prefix="")
    data.update(inline("bindings", [
        {"id": str(binding.pk), "address": str(address.pk), "config": str(config.pk),
         "pc": "on"},
        {"config": str(config.pk), "app": "on"}], initial=1))
    page = staff.post(change_url(address), data, **EN).content.decode()
    assert "The push config “系统甲 (oa-a)” is bound to this push address twice" in page
    assert AddressBinding.objects.count() == 1


def test_it_links_the_change_form_to_the_preview(staff):
    address = make_address()
    page = staff.get(change_url(address), **EN).content.decode()
    assert f'href="{preview_url(address)}"' in page


# -- preview -----------------------------------------------------------------------------------
def test_it_asks_for_a_request_id_and_an_operator_before_previewing(staff, config):
    address = make_address(bindings=[(config, "pc")])
    page = staff.get(preview_url(address), **EN).content.decode()
    assert 'name="request_id"' in page and 'name="operator"' in page
    assert "address-preview-url" not in page and not errors_in(page)


def test_it_previews_the_three_addresses_of_each_bound_config(staff, config, person, oa,
                                                              monkeypatch):
    monkeypatch.setattr(addresses, "now", fixed_clock)
    address = make_address(name="单点", redirect=True, prefix="https://sso.example.com/j",
                           params=[variable("ts", "timestamp_s"), system("u", "encoded_url")],
                           bindings=[(config, "pc app")])
    page = staff.get(preview_url(address), {"request_id": "3001", "operator": "lisi"},
                     **EN).content.decode()
    assert not errors_in(page)
    encoded_pc = ("http%3A%2F%2Foa.example.com%2Fworkflow%2Frequest%2FViewRequest.jsp"
                  "%3Frequestid%3D3001")
    encoded_app = "http%3A%2F%2Foa.example.com%2Fmobile%2Fplugin%2F1%2Fview.jsp%3Frequestid%3D3001"
    assert f"https://sso.example.com/j?ts=1795136523&amp;u={encoded_pc}" in page
    assert f"https://sso.example.com/j?ts=1795136523&amp;u={encoded_app}" in page
    assert "http://oa.example.com/workflow/request/ViewRequest.jsp?requestid=3001</code>" in page
    assert "the OA's own link" in page  # the adaptive address is not bound
    assert "系统甲 (oa-a)" in page


@pytest.mark.parametrize("query,text", [
    ({"request_id": "30a1", "operator": "lisi"}, "Enter the request id in digits only."),
    ({"request_id": "", "operator": "lisi"}, "This field is required."),
    ({"request_id": "1", "operator": "nobody"}, "No person with the login id “nobody”"),
    ({"request_id": "1", "operator": ""}, "This field is required."),
])
def test_it_refuses_a_preview_without_digits_or_a_known_operator(staff, config, person, query,
                                                                 text):
    address = make_address(bindings=[(config, "pc")])
    page = staff.get(preview_url(address), query, **EN).content.decode()
    assert text in page
    assert "address-preview-url" not in page


def test_it_needs_the_view_permission_to_preview(client, config):
    from tests.conftest import make_user

    address = make_address(bindings=[(config, "pc")])
    client.force_login(make_user("nobody-staff"))
    assert client.get(preview_url(address)).status_code == 403
    client.force_login(make_user("viewer", "pushconfig.view_pushaddress"))
    assert client.get(preview_url(address)).status_code == 200


# -- the cloud bridge -----------------------------------------------------------------------------
def test_it_keeps_one_cloud_bridge_configuration_in_the_admin(staff):
    changelist = reverse("admin:pushconfig_cloudbridgeconfig_changelist")
    add = reverse("admin:pushconfig_cloudbridgeconfig_add")
    assert staff.get(changelist)["Location"] == add
    r = staff.post(add, {"agent_key": "905296088639315968", "corp_key": "877800227655229441",
                         "tenant_key": "t4dvwhryc8"}, **EN)
    assert r.status_code == 302
    current = CloudBridgeConfig.current()
    assert current.agent_key == "905296088639315968"
    assert staff.get(changelist)["Location"] == reverse(
        "admin:pushconfig_cloudbridgeconfig_change", args=[current.pk])
    assert staff.get(add).status_code == 403
    page = staff.get(reverse("admin:pushconfig_cloudbridgeconfig_change", args=[current.pk]),
                     **EN).content.decode()
    assert "wea_link_keep_ebAgentKey" in page and "deletelink" not in page


# -- decentralised administration ------------------------------------------------------------------
def test_it_hides_push_addresses_from_administrators_confined_to_one_organization(
        client, orgs, settings):
    settings.DECENTRALISED_ADMIN = True
    user = scoped_user(orgs[0])
    for codename in ("view_pushaddress", "change_pushaddress", "view_cloudbridgeconfig"):
        from django.contrib.auth.models import Permission

        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(reverse("admin:pushconfig_cloudbridgeconfig_changelist")).status_code == 403
    settings.DECENTRALISED_ADMIN = False
    assert client.get(CHANGELIST).status_code == 200
