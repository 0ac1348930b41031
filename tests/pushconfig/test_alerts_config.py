"""Failure alert settings of a push config in the admin and the API (registered channels only,
persons by login id, roles by OA id), and the fuse records with their alert logs: a read-only
admin page and /api/v1/fuse-records/, scoped like push configs."""
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from integration.models import Role
from pushconfig.models import AdminScope, AlertLog, FuseRecord, PushConfig

from tests.conftest import client_for, make_user
from tests.integration.test_notify_support import person

from .conftest import make_config
from .test_admin_config import form_data
from .test_admin_support import EN, orgs

pytestmark = pytest.mark.django_db
__all__ = ["orgs"]  # fixtures, imported to be used by name
URL = "/api/v1/push-configs/"


@pytest.fixture
def staff(client, admin):
    client.force_login(admin)
    return client


def fused(config, **fields):
    record = FuseRecord.objects.create(config=config, create_time=timezone.now(),
                                       reason="The target answered HTTP 503.", backlog=7,
                                       **fields)
    AlertLog.objects.create(fuse=record, event="open", channel="email", outcome="sent",
                            detail="Sent to 2 of 2 recipients.", subject="熔断", content="c",
                            sent_at=timezone.now())
    AlertLog.objects.create(fuse=record, event="open", channel="sms", outcome="failed",
                            detail="The SMS gateway answered HTTP 503: busy", attempts=4)
    return record


# -- admin: the push config's "Failure alerts" section ----------------------------------------
def test_it_shows_the_failure_alerts_section_with_a_checkbox_per_channel(staff):
    page = staff.get(reverse("admin:pushconfig_pushconfig_add"), {"push_type": "ecology"},
                     **EN).content.decode()
    assert "Failure alerts" in page
    for key in ("im", "cloud_bridge", "email", "sms"):
        assert f'type="checkbox" name="alert_channels" value="{key}"' in page
    for name in ("fuse_threshold", "fuse_cooldown", "alert_persons", "alert_roles",
                 "alert_subject", "alert_content"):
        assert f'name="{name}"' in page


def test_it_saves_the_alert_settings_from_the_admin(staff):
    zhang = person("zhangsan")
    ops = Role.objects.create(external_id="r-ops", name="运维")
    r = staff.post(reverse("admin:pushconfig_pushconfig_add"), form_data(
        alert_channels=["email", "sms"], alert_persons=[zhang.pk], alert_roles=[ops.pk],
        alert_subject="[{event}] {config}", alert_content="{reason}", fuse_threshold="3",
        fuse_cooldown="120"))
    assert r.status_code == 302, r.content.decode()[:3000]
    config = PushConfig.objects.get()
    assert config.alert_channels == ["email", "sms"]
    assert list(config.alert_persons.all()) == [zhang] and list(config.alert_roles.all()) == [ops]
    assert (config.fuse_threshold, config.fuse_cooldown) == (3, 120)
    assert config.alert_subject == "[{event}] {config}"


def test_it_refuses_an_unknown_alert_channel_in_the_admin(staff):
    page = staff.post(reverse("admin:pushconfig_pushconfig_add"),
                      form_data(alert_channels=["email", "fax"]), **EN).content.decode()
    assert "errors field-alert_channels" in page or "field-alert_channels errors" in page
    assert not PushConfig.objects.exists()


def test_breaker_settings_left_out_keep_their_values(staff):
    r = staff.post(reverse("admin:pushconfig_pushconfig_add"), form_data(fuse_threshold=""))
    assert r.status_code == 302, r.content.decode()[:3000]
    config = PushConfig.objects.get()
    assert (config.fuse_threshold, config.fuse_cooldown) == (5, 60)


# -- API: the alert fields of /api/v1/push-configs/ -------------------------------------------
def body(**overrides):
    data = {"identifier": "oa-main", "system_name": "主OA系统2",
            "server_url": "http://127.0.0.1:9/", "push_type": "ecology",
            "params": {"sysCode": "OA"}}
    data.update(overrides)
    return json.dumps(data)


def test_it_takes_the_alert_settings_through_the_api(api):
    person("zhangsan")
    Role.objects.create(external_id="r-ops", name="运维")
    r = api.post(URL, body(alert_channels=["email", "im", "email"], alert_persons=["zhangsan"],
                           alert_roles=["r-ops"], alert_subject="{config}",
                           alert_content="{reason}", fuse_threshold=3),
                 content_type="application/json")
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["alert_channels"] == ["email", "im"]
    assert (data["alert_persons"], data["alert_roles"]) == (["zhangsan"], ["r-ops"])
    assert (data["fuse_threshold"], data["fuse_cooldown"]) == (3, 60)
    r = api.patch(f"{URL}{data['id']}/", json.dumps({"alert_persons": []}),
                  content_type="application/json")
    assert r.status_code == 200 and r.json()["alert_persons"] == []
    assert r.json()["alert_roles"] == ["r-ops"]


@pytest.mark.parametrize("value", [["fax"], "email", [1]])
def test_it_refuses_alert_channels_that_are_not_registered_naming_the_field(api, value):
    r = api.post(URL, body(alert_channels=value), content_type="application/json", **EN)
    assert r.status_code == 400
    assert "alert_channels" in r.json()
    assert not PushConfig.objects.exists()


def test_it_refuses_an_unknown_person_or_a_threshold_out_of_range(api):
    r = api.post(URL, body(alert_persons=["ghost"], fuse_threshold=0),
                 content_type="application/json")
    assert r.status_code == 400
    assert {"alert_persons", "fuse_threshold"} <= set(r.json())


# -- fuse records ------------------------------------------------------------------------------
def test_it_lists_fuse_records_with_their_alerts_in_a_read_only_admin(staff):
    record = fused(make_config("http://127.0.0.1:9/"))
    listing = staff.get(reverse("admin:pushconfig_fuserecord_changelist"), **EN)
    assert listing.status_code == 200
    assert "still fused" in listing.content.decode()
    page = staff.get(reverse("admin:pushconfig_fuserecord_change", args=[record.pk]),
                     **EN).content.decode()
    assert "The target answered HTTP 503." in page
    assert "Sent to 2 of 2 recipients." in page and "The SMS gateway answered HTTP 503" in page
    assert staff.get(reverse("admin:pushconfig_fuserecord_add")).status_code == 403
    r = staff.post(reverse("admin:pushconfig_fuserecord_change", args=[record.pk]),
                   {"reason": "edited"})
    assert r.status_code == 403
    record.refresh_from_db()
    assert record.reason == "The target answered HTTP 503."


def test_it_serves_fuse_records_with_their_alert_logs(api):
    config = make_config("http://127.0.0.1:9/")
    record = fused(config, recover_time=timezone.now())
    r = api.get("/api/v1/fuse-records/", {"config": config.pk})
    assert r.status_code == 200, r.content
    [item] = r.json()["results"]
    assert item["id"] == record.pk and item["config_identifier"] == "oa2"
    assert item["create_time"] and item["recover_time"] and item["backlog"] == 7
    assert [(a["channel"], a["outcome"]) for a in item["alert_logs"]] == [
        ("email", "sent"), ("sms", "failed")]
    assert api.post("/api/v1/fuse-records/", {}).status_code == 405


def test_it_shows_a_scoped_administrator_only_the_fuse_records_of_their_organization(
        api, orgs, settings):
    settings.DECENTRALISED_ADMIN = True
    north, south = orgs
    mine = fused(make_config("http://127.0.0.1:9/", identifier="n", organization=north))
    fused(make_config("http://127.0.0.1:9/", identifier="s", organization=south))
    user = make_user("north-viewer", "pushconfig.view_fuserecord")
    AdminScope.objects.create(user=user, organization=north)
    r = client_for(user).get("/api/v1/fuse-records/")
    assert [item["id"] for item in r.json()["results"]] == [mine.pk]
    assert client_for(make_user("nobody")).get("/api/v1/fuse-records/").status_code == 403
