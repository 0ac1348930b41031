"""The admin of push configs: the seed's sections, parameters as form fields validated per push
type, secrets written but never shown, suites, decentralised scoping, bulk enable/disable and
the connection test against a real receiver on 127.0.0.1."""
import pytest
from django.urls import reverse

from integration.models import WorkflowType
from pushconfig.models import PushConfig, PushRecord
from tests.integration.helpers import todo_event as todo

from .conftest import closed_port_url, deliver_all, make_config
from .conftest import post_events as post
from .test_admin_support import EN, SECRET, orgs, raw_params, scoped_user, vault

pytestmark = pytest.mark.django_db
__all__ = ["orgs", "vault"]  # fixtures, imported to be used by name

ADD = "admin:pushconfig_pushconfig_add"
CHANGELIST = "admin:pushconfig_pushconfig_changelist"


def change_url(config):
    return reverse("admin:pushconfig_pushconfig_change", args=[config.pk])


def form_data(**overrides):
    data = {
        "enabled": "on", "identifier": "oa-main", "system_name": "主OA系统2",
        "server_url": "http://127.0.0.1:9/", "person_mapping": "login_id",
        "push_type": "ecology", "params_for": "ecology:", "param_sysCode": "OA",
        "person_scope": "all", "workflow_scope": "all", "business_interception": "none",
        "person_rules-TOTAL_FORMS": "0", "person_rules-INITIAL_FORMS": "0",
        "person_rules-MIN_NUM_FORMS": "0", "person_rules-MAX_NUM_FORMS": "1000",
        # Compensation and cleanup: the defaults a browser posts back.
        "compensation_retries": "3", "compensation_wait": "5", "cleanup_hour": "2",
        "cleanup_keep_days": "30",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def vault_data(**overrides):
    values = {"push_type": "custom", "implementation": "test_vault",
              "params_for": "custom:test_vault", "param_sysCode": None,
              "param_account": "acct-1", "param_password": SECRET, "param_region": "south"}
    values.update(overrides)
    return form_data(**values)


@pytest.fixture
def staff(client, admin):
    client.force_login(admin)
    return client


def field_errors(page, field):
    """Whether the admin drew the field's row with errors."""
    return f"errors field-{field}" in page or f"field-{field} errors" in page


# -- the form --------------------------------------------------------------------------------
def test_it_asks_for_the_push_type_first_and_then_shows_its_parameters(staff):
    page = staff.get(reverse(ADD), **EN).content.decode()
    assert "Choose the push type first" in page
    assert 'name="param_sysCode"' not in page
    page = staff.get(reverse(ADD), {"push_type": "ecology"}, **EN).content.decode()
    assert 'name="param_sysCode"' in page
    assert 'type="checkbox" name="param_toViewRemark"' in page
    assert "WPushEcologyRest" in page
    for section in ("Basic information", "Parameters", "Special data handling",
                    "Person interception", "Workflow interception", "Business interception",
                    "Workflow type interception"):
        assert section in page


def test_it_adds_an_ecology_config_disabled_by_default_with_its_parameters(staff):
    r = staff.post(reverse(ADD), form_data(enabled=None, param_toViewRemark="on"))
    assert r.status_code == 302, r.content.decode()[:3000]
    config = PushConfig.objects.get(identifier="oa-main")
    assert not config.enabled
    assert config.implementation == "WPushEcologyRest"
    assert config.get_params() == {"sysCode": "OA", "toViewRemark": True}


def test_it_requires_sysCode_and_names_the_field(staff):
    page = staff.post(reverse(ADD), form_data(param_sysCode=""), **EN).content.decode()
    assert field_errors(page, "param_sysCode")
    assert "This field is required." in page
    assert not PushConfig.objects.exists()


def test_it_refuses_sysCode_longer_than_its_schema_allows(staff):
    page = staff.post(reverse(ADD), form_data(param_sysCode="x" * 65), **EN).content.decode()
    assert field_errors(page, "param_sysCode")
    assert "no more than 64 characters" in page
    assert not PushConfig.objects.exists()


def test_it_refuses_a_form_posted_for_another_push_type_than_it_showed(staff):
    page = staff.post(reverse(ADD), form_data(params_for=""), **EN).content.decode()
    assert "The push type changed" in page
    assert 'name="param_sysCode"' in page  # redrawn with the chosen type's fields
    assert 'name="params_for" value="ecology:"' in page
    assert not PushConfig.objects.exists()


@pytest.mark.parametrize("name, message", [
    ("12345", "may not contain only digits"),
    ("OA@#$<>", "may not contain special characters"),
])
def test_it_refuses_a_bad_system_name_naming_the_field(staff, name, message):
    page = staff.post(reverse(ADD), form_data(system_name=name), **EN).content.decode()
    assert field_errors(page, "system_name") and message in page
    assert not PushConfig.objects.exists()


def test_it_accepts_a_system_name_of_chinese_letters_and_digits(staff):
    assert staff.post(reverse(ADD), form_data(system_name="泛微OA系统E9v2")).status_code == 302
    assert PushConfig.objects.get().system_name == "泛微OA系统E9v2"


def test_it_refuses_an_identifier_already_taken_naming_the_field(staff):
    make_config("http://127.0.0.1:9", identifier="oa-main")
    page = staff.post(reverse(ADD), form_data(), **EN).content.decode()
    assert field_errors(page, "identifier")
    assert "Push config with this Identifier already exists." in page
    assert PushConfig.objects.count() == 1


def test_it_saves_business_statuses_per_data_set_from_checkboxes(staff):
    page = staff.get(reverse(ADD), {"push_type": "ecology"}).content.decode()
    assert 'name="statuses_over" value="archive"' in page
    assert 'name="statuses_todo" value="cc"' in page
    assert 'name="statuses_over" value="cc"' not in page  # cc is not in the over data set
    r = staff.post(reverse(ADD), form_data(business_interception="custom",
                                           statuses_todo=["cc", "forward"],
                                           statuses_delete=["cancel"]))
    assert r.status_code == 302
    config = PushConfig.objects.get()
    assert {k: set(v) for k, v in config.intercepted_statuses.items()} == {
        "todo": {"cc", "forward"}, "delete": {"cancel"}}
    page = staff.get(change_url(config)).content.decode()
    assert 'name="statuses_todo" value="cc" id="id_statuses_todo_2" checked' in page


def test_it_refuses_a_status_of_another_data_set(staff):
    page = staff.post(reverse(ADD), form_data(statuses_over=["cc"]), **EN).content.decode()
    assert field_errors(page, "statuses_over")
    assert not PushConfig.objects.exists()


def test_it_saves_person_rules_and_interception_lists(staff):
    kind = WorkflowType.objects.create(external_id="wt-1", name="行政类")
    r = staff.post(reverse(ADD), form_data(**{
        "person_scope": "denylist", "intercepted_workflow_types": [kind.pk],
        "person_rules-TOTAL_FORMS": "2",
        "person_rules-0-kind": "department", "person_rules-0-target": "dept-9",
        "person_rules-1-kind": "everyone", "person_rules-1-target": "",
    }))
    assert r.status_code == 302, r.content.decode()[:3000]
    config = PushConfig.objects.get()
    assert {(p.kind, p.target) for p in config.person_rules.all()} == {
        ("department", "dept-9"), ("everyone", "")}
    assert list(config.intercepted_workflow_types.all()) == [kind]


# -- custom push types and secrets -----------------------------------------------------------
def test_it_offers_registered_custom_classes_and_refuses_an_unregistered_one(staff, vault):
    page = staff.get(reverse(ADD), {"push_type": "custom"}, **EN).content.decode()
    assert '<option value="test_vault">Vault (test)</option>' in page
    page = staff.post(reverse(ADD), vault_data(implementation="com.example.Missing",
                                               params_for="custom:com.example.Missing"),
                      **EN).content.decode()
    assert field_errors(page, "implementation")
    assert not PushConfig.objects.exists()


def test_it_stores_a_secret_encrypted_and_never_renders_it(staff, vault):
    r = staff.post(reverse(ADD), vault_data())
    assert r.status_code == 302, r.content.decode()[:3000]
    config = PushConfig.objects.get()
    assert config.implementation == "test_vault"
    assert config.get_params() == {"account": "acct-1", "password": SECRET, "region": "south",
                                   "verbose": False}
    stored = raw_params(config.pk)
    assert SECRET not in stored and "fernet:" in stored
    page = staff.get(change_url(config), **EN).content.decode()
    assert SECRET not in page
    assert "currently set: ••••••1234" in page
    assert 'type="password" name="param_password"' in page
    assert 'value="acct-1"' in page


def test_it_keeps_the_secret_when_left_blank_and_replaces_it_when_typed(staff, vault):
    staff.post(reverse(ADD), vault_data())
    config = PushConfig.objects.get()
    r = staff.post(change_url(config), vault_data(param_password="", param_account="acct-2"))
    assert r.status_code == 302, r.content.decode()[:3000]
    config.refresh_from_db()
    assert config.get_params()["password"] == SECRET
    assert config.get_params()["account"] == "acct-2"
    staff.post(change_url(config), vault_data(param_password="NEW-ONE"))
    config.refresh_from_db()
    assert config.get_params()["password"] == "NEW-ONE"


def test_it_requires_the_secret_when_adding(staff, vault):
    page = staff.post(reverse(ADD), vault_data(param_password=""), **EN).content.decode()
    assert field_errors(page, "param_password")
    assert not PushConfig.objects.exists()


def test_it_does_not_echo_a_typed_secret_when_the_form_has_errors(staff, vault):
    page = staff.post(reverse(ADD), vault_data(system_name="1234")).content.decode()
    assert SECRET not in page


def test_it_drops_the_old_types_secrets_when_the_push_type_changes(staff, vault):
    staff.post(reverse(ADD), vault_data())
    config = PushConfig.objects.get()
    page = staff.get(change_url(config), {"push_type": "ecology"}).content.decode()
    assert 'name="param_sysCode"' in page and 'name="param_password"' not in page
    r = staff.post(change_url(config), form_data(param_sysCode="OA2"))
    assert r.status_code == 302, r.content.decode()[:3000]
    config.refresh_from_db()
    assert config.push_type == "ecology" and config.get_params() == {
        "sysCode": "OA2", "toViewRemark": False}
    assert "fernet:" not in raw_params(config.pk)


# -- suites ----------------------------------------------------------------------------------
def test_it_lists_suites_from_the_changelist(staff):
    page = staff.get(reverse(CHANGELIST), **EN).content.decode()
    assert reverse("admin:pushconfig_pushconfig_suites") in page
    page = staff.get(reverse("admin:pushconfig_pushconfig_suites"), **EN).content.decode()
    assert reverse("admin:pushconfig_pushconfig_suite", args=["ecology"]) in page
    assert "sysCode" in page


def test_it_creates_a_disabled_config_from_a_suite_asking_only_its_parameters(staff):
    url = reverse("admin:pushconfig_pushconfig_suite", args=["ecology"])
    page = staff.get(url, **EN).content.decode()
    assert "&rsaquo; e-cology 8/9" in page and "WPushEcologyRest" in page
    assert 'name="param_sysCode"' in page and 'name="param_toViewRemark"' not in page
    assert 'name="person_scope"' not in page
    r = staff.post(url, {"identifier": "oa-suite", "system_name": "套件OA",
                         "server_url": "http://127.0.0.1:9", "param_sysCode": "SUITE"})
    config = PushConfig.objects.get()
    assert r.status_code == 302 and r["Location"] == change_url(config)
    assert not config.enabled
    assert config.push_type == "ecology" and config.implementation == "WPushEcologyRest"
    assert config.get_params() == {"sysCode": "SUITE", "toViewRemark": False}


def test_it_refuses_a_suite_form_without_its_required_parameter(staff):
    url = reverse("admin:pushconfig_pushconfig_suite", args=["ecology"])
    page = staff.post(url, {"identifier": "oa-suite", "system_name": "套件OA",
                            "server_url": "http://127.0.0.1:9"}, **EN).content.decode()
    assert "This field is required." in page
    assert not PushConfig.objects.exists()
    assert staff.get(reverse("admin:pushconfig_pushconfig_suite",
                             args=["nothing"])).status_code == 404


def test_it_creates_a_custom_config_from_its_suite_with_the_secret_encrypted(staff, vault):
    url = reverse("admin:pushconfig_pushconfig_suite", args=["test_vault"])
    r = staff.post(url, {"identifier": "vault", "system_name": "保险库",
                         "server_url": "http://127.0.0.1:9", "param_account": "a",
                         "param_password": SECRET})
    assert r.status_code == 302, r.content.decode()[:3000]
    config = PushConfig.objects.get()
    assert (config.push_type, config.implementation) == ("custom", "test_vault")
    assert config.get_params()["password"] == SECRET
    assert SECRET not in raw_params(config.pk)


# -- list and actions ------------------------------------------------------------------------
def test_it_lists_configs_with_their_push_type_and_enables_and_disables_in_bulk(staff):
    first = make_config("http://127.0.0.1:9", identifier="a", enabled=False)
    second = make_config("http://127.0.0.1:9", identifier="b", enabled=False)
    url = reverse(CHANGELIST)
    page = staff.get(url, **EN).content.decode()
    assert "e-cology 8/9" in page and "Test connection" in page
    r = staff.post(url, {"action": "enable_configs", "_selected_action": [first.pk, second.pk]},
                   follow=True, **EN)
    assert "2 push configs were enabled." in r.content.decode()
    assert PushConfig.objects.filter(enabled=True).count() == 2
    r = staff.post(url, {"action": "disable_configs", "_selected_action": [first.pk]},
                   follow=True, **EN)
    assert "1 push config was disabled." in r.content.decode()
    assert list(PushConfig.objects.filter(enabled=False)) == [first]


def test_it_tests_the_connection_of_a_row_against_the_real_target(staff, receiver):
    config = make_config(receiver.url)
    r = staff.post(reverse("admin:pushconfig_pushconfig_test", args=[config.pk]),
                   {"_from": "changelist"}, follow=True, **EN)
    page = r.content.decode()
    assert r.redirect_chain[-1][0] == reverse(CHANGELIST)
    assert "the target answered (HTTP 200)" in page and "operResult" in page
    assert receiver.paths() == ["/rest/ofs/deleteUserRequestInfoByJson"]
    assert receiver.requests[0].json()["syscode"] == "OA"


def test_it_shows_why_a_connection_test_failed(staff):
    config = make_config(closed_port_url())
    r = staff.post(reverse("admin:pushconfig_pushconfig_test", args=[config.pk]), follow=True,
                   **EN)
    page = r.content.decode()
    assert r.redirect_chain[-1][0] == change_url(config)
    assert "connection test failed: Cannot connect to" in page


def test_it_shows_the_targets_refusal_with_its_status_and_answer(staff, receiver):
    from tests.receivers import Answer

    receiver.answer = Answer(status=403, body="IP 10.0.0.8 is not allowed")
    config = make_config(receiver.url)
    r = staff.post(reverse("admin:pushconfig_pushconfig_test", args=[config.pk]), follow=True,
                   **EN)
    page = r.content.decode()
    assert "connection test failed" in page and "(HTTP 403)" in page
    assert "IP 10.0.0.8 is not allowed" in page


def test_it_tests_connections_in_bulk_and_refuses_a_get(staff, receiver):
    good = make_config(receiver.url, identifier="good")
    bad = make_config(closed_port_url(), identifier="bad")
    r = staff.post(reverse(CHANGELIST), {"action": "test_connections",
                                         "_selected_action": [good.pk, bad.pk]},
                   follow=True, **EN)
    page = r.content.decode()
    assert f"{good}: the target answered (HTTP 200)" in page
    assert f"{bad}: connection test failed: Cannot connect" in page
    assert staff.get(reverse("admin:pushconfig_pushconfig_test",
                             args=[good.pk])).status_code == 405


def test_it_shows_a_test_button_on_the_change_page(staff):
    config = make_config("http://127.0.0.1:9")
    page = staff.get(change_url(config), **EN).content.decode()
    assert reverse("admin:pushconfig_pushconfig_test", args=[config.pk]) in page
    assert 'name="param_sysCode"' in page and 'value="OA"' in page


# -- decentralised administration ------------------------------------------------------------
def test_it_hides_the_organization_unless_decentralised_administration_is_on(staff, settings):
    settings.DECENTRALISED_ADMIN = False
    assert 'name="organization"' not in staff.get(
        reverse(ADD), {"push_type": "ecology"}).content.decode()
    settings.DECENTRALISED_ADMIN = True
    assert 'name="organization"' in staff.get(
        reverse(ADD), {"push_type": "ecology"}).content.decode()


@pytest.fixture
def scoped(client, orgs, settings):
    """Decentralised administration on; the client is an administrator of the north org,
    and each org has one config."""
    settings.DECENTRALISED_ADMIN = True
    north, south = orgs
    client.force_login(scoped_user(north))
    mine = make_config("http://127.0.0.1:9", identifier="north-oa", organization=north)
    theirs = make_config("http://127.0.0.1:9", identifier="south-oa", organization=south)
    return client, mine, theirs


def test_it_shows_a_scoped_administrator_only_their_organizations_configs(scoped):
    client, mine, theirs = scoped
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "north-oa" in page and "south-oa" not in page
    assert client.get(change_url(mine)).status_code == 200
    assert client.get(change_url(theirs)).status_code == 404
    r = client.post(change_url(theirs), form_data(identifier="south-oa"))
    assert r.status_code == 404
    r = client.post(reverse("admin:pushconfig_pushconfig_test", args=[theirs.pk]))
    assert r.status_code == 404
    r = client.post(reverse(CHANGELIST), {"action": "disable_configs",
                                          "_selected_action": [mine.pk, theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.enabled


def test_it_lets_a_scoped_administrator_pick_only_their_organization(scoped, orgs):
    client, _mine, _theirs = scoped
    north, south = orgs
    page = client.get(reverse(ADD), {"push_type": "ecology"}, **EN).content.decode()
    assert "北区分部" in page and "南区分部" not in page
    page = client.post(reverse(ADD), form_data(organization=south.pk), **EN).content.decode()
    assert field_errors(page, "organization")
    assert not PushConfig.objects.filter(identifier="oa-main").exists()
    r = client.post(reverse(ADD), form_data(organization=north.pk))
    assert r.status_code == 302
    assert PushConfig.objects.get(identifier="oa-main").organization == north


def test_it_gives_a_scoped_administrators_suite_config_their_organization(scoped, orgs):
    client, _mine, _theirs = scoped
    north, south = orgs
    url = reverse("admin:pushconfig_pushconfig_suite", args=["ecology"])
    r = client.post(url, {"identifier": "oa-suite", "system_name": "套件OA",
                          "organization": south.pk, "server_url": "http://127.0.0.1:9",
                          "param_sysCode": "S"})
    assert r.status_code == 200  # another organization is not a choice
    r = client.post(url, {"identifier": "oa-suite", "system_name": "套件OA",
                          "organization": north.pk, "server_url": "http://127.0.0.1:9",
                          "param_sysCode": "S"})
    assert r.status_code == 302
    assert PushConfig.objects.get(identifier="oa-suite").organization == north


def test_it_shows_a_superuser_every_organizations_configs(scoped, admin):
    client, _mine, _theirs = scoped
    client.force_login(admin)
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "north-oa" in page and "south-oa" in page


def test_it_ignores_scopes_when_decentralised_administration_is_off(scoped, settings):
    client, _mine, theirs = scoped
    settings.DECENTRALISED_ADMIN = False
    assert client.get(change_url(theirs)).status_code == 200


def test_the_list_and_the_push_log_show_an_address_without_its_credentials(staff, api):
    url = closed_port_url().replace("http://", "http://ops:pa55word@") + "/oa?access_token=tok-42x"
    config = make_config(url)
    page = staff.get(reverse(CHANGELIST), **EN).content.decode()
    assert "ops:" in page and "pa55word" not in page and "tok-42x" not in page
    post(api, todo())
    deliver_all(config)
    reason = PushRecord.objects.get().reason
    assert "Cannot connect" in reason and "pa55word" not in reason and "tok-42x" not in reason
