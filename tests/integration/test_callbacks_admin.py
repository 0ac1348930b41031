"""The admin of callback sources (a token that is written, never shown) and callback logs."""
import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.urls import reverse

from integration.models import CallbackLog, CallbackSource
from integration.secrets import MASK

from .test_callbacks_support import TOKEN, post, source, task_params

pytestmark = pytest.mark.django_db
__all__ = ["source"]  # the fixture, imported to be used by name

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def raw_token_column(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT system_token FROM integration_callbacksource WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def form_data(**overrides):
    data = {"name": "宜搭 OA", "slug": "yida-oa", "enabled": "on", "system_token": "",
            "app_type": "", "corp_id": ""}
    data.update(overrides)
    return data


@pytest.fixture
def staff(client, admin):
    client.force_login(admin)
    return client


def test_it_adds_a_source_with_an_encrypted_token(staff):
    r = staff.post(reverse("admin:integration_callbacksource_add"),
                   form_data(system_token=" NEW-TOKEN-ABCDEFGH-1234 "))
    assert r.status_code == 302, r.content.decode()[:2000]
    created = CallbackSource.objects.get(slug="yida-oa")
    assert created.system_token == "NEW-TOKEN-ABCDEFGH-1234"
    stored = raw_token_column(created.pk)
    assert stored.startswith("fernet:") and "NEW-TOKEN" not in stored


def test_it_requires_a_token_when_adding_and_refuses_spaces(staff):
    url = reverse("admin:integration_callbacksource_add")
    page = staff.post(url, form_data(), **EN).content.decode()
    assert "Enter the system token." in page
    page = staff.post(url, form_data(system_token="two words"), **EN).content.decode()
    assert "may not contain spaces" in page
    assert not CallbackSource.objects.exists()


def test_it_never_renders_the_token_on_the_change_page(staff, source):
    url = reverse("admin:integration_callbacksource_change", args=[source.pk])
    page = staff.get(url).content.decode()
    assert TOKEN not in page
    assert MASK + TOKEN[-4:] in page
    assert 'type="password"' in page and 'name="system_token"' in page
    assert "/hooks/tasks/yida/finish" in page
    assert "http://testserver/hooks/tasks/yida/create" in page


def test_it_keeps_the_token_when_the_field_is_left_blank(staff, source):
    r = staff.post(reverse("admin:integration_callbacksource_change", args=[source.pk]),
                   form_data(name="改名", slug="yida"))
    assert r.status_code == 302
    source.refresh_from_db()
    assert source.name == "改名" and source.system_token == TOKEN
    assert "token" not in LogEntry.objects.get().get_change_message().lower()
    assert raw_token_column(source.pk).startswith("fernet:")


def test_it_replaces_the_token_when_a_new_one_is_typed(staff, source, client):
    staff.post(reverse("admin:integration_callbacksource_change", args=[source.pk]),
               form_data(slug="yida", system_token="REPLACED-TOKEN"))
    source.refresh_from_db()
    assert source.system_token == "REPLACED-TOKEN"
    assert "token" in LogEntry.objects.get().get_change_message().lower()
    assert post(client, "create", task_params()).status_code == 403
    assert post(client, "create", task_params(), token="REPLACED-TOKEN").status_code == 200


def test_it_does_not_echo_a_typed_token_when_the_form_has_errors(staff):
    page = staff.post(reverse("admin:integration_callbacksource_add"),
                      form_data(name="", system_token="TYPED-SECRET-999")).content.decode()
    assert "TYPED-SECRET-999" not in page


def test_it_lists_sources_with_their_url_and_a_masked_token(staff, source):
    page = staff.get(reverse("admin:integration_callbacksource_changelist")).content.decode()
    assert TOKEN not in page
    assert MASK + TOKEN[-4:] in page
    assert "http://testserver/hooks/tasks/yida/" in page


def test_it_enables_and_disables_sources_in_bulk_with_a_plural_message(staff, source):
    other = CallbackSource.objects.create(name="B", slug="b", system_token="t", enabled=False)
    url = reverse("admin:integration_callbacksource_changelist")
    r = staff.post(url, {"action": "disable_sources",
                         "_selected_action": [source.pk, other.pk]}, follow=True, **EN)
    assert "2 callback sources were disabled." in r.content.decode()
    assert not CallbackSource.objects.filter(enabled=True).exists()
    r = staff.post(url, {"action": "enable_sources", "_selected_action": [other.pk]},
                   follow=True, **EN)
    assert "1 callback source was enabled." in r.content.decode()
    assert list(CallbackSource.objects.filter(enabled=True)) == [other]


def test_it_shows_callback_logs_read_only_with_filters_and_search(staff, source, client):
    post(client, "create", task_params())
    log = CallbackLog.objects.get()
    url = reverse("admin:integration_callbacklog_changelist")
    since_2000 = {"received_at__gte": "2000-01-01 00:00:00+00:00"}
    for query in ({}, {"q": "FINST-1001"}, {"action__exact": "create"},
                  {"source__id__exact": source.pk}, since_2000):
        r = staff.get(url, query)
        assert r.status_code == 200
        assert "FINST-1001" in r.content.decode(), query
    assert "FINST-1001" not in staff.get(url, {"q": "OTHER"}).content.decode()
    detail = staff.get(reverse("admin:integration_callbacklog_change", args=[log.pk]))
    detail = detail.content.decode()
    assert "张红的1位访客申请" in detail and log.event_ids[0] in detail
    assert TOKEN not in detail
    assert 'name="_save"' not in detail
    assert staff.get(reverse("admin:integration_callbacklog_add")).status_code == 403


def test_it_refuses_to_delete_a_source_that_has_logs_in_the_admin(staff, source, client):
    post(client, "create", task_params())
    url = reverse("admin:integration_callbacksource_delete", args=[source.pk])
    staff.post(url, {"post": "yes"})
    assert CallbackSource.objects.filter(pk=source.pk).exists()
