"""Beat schedules kept in step with each push config: a compensation task on its cron and a
daily cleanup task, created, updated, disabled and deleted with the config (model, admin,
API), and run as beat runs them: the task name and args stored in the PeriodicTask."""
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from config.celery import app
from pushconfig import schedules, tasks
from pushconfig.cron import next_runs
from pushconfig.models import PushConfig, PushRecord

from .conftest import make_config
from .test_admin_config import form_data
from .test_admin_support import EN

pytestmark = pytest.mark.django_db
__all__ = ["tasks"]  # imported so that beat's task names are registered, as in a worker

URL = "http://127.0.0.1:9"


def compensation_task(config):
    return schedules.tasks_of(config.pk).get(schedules.COMPENSATE_TASK)


def cleanup_task(config):
    return schedules.tasks_of(config.pk).get(schedules.CLEANUP_TASK)


def crontab_of(task):
    c = task.crontab
    return (c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week, str(c.timezone))


def edit(config, **values):
    for name, value in values.items():
        setattr(config, name, value)
    config.full_clean()
    config.save()
    return config


@pytest.fixture
def staff(client, admin):
    client.force_login(admin)
    return client


# -- the model ---------------------------------------------------------------------------------
def test_it_schedules_nothing_for_a_config_that_never_turned_either_on():
    config = make_config(URL)
    assert schedules.tasks_of(config.pk) == {}


def test_it_creates_the_compensation_task_on_the_cron_in_the_console_time_zone():
    config = make_config(URL, compensation_enabled=True, compensation_cron="0 0/10 * * * ?")
    task = compensation_task(config)
    assert task.name == "Push compensation: oa2"
    assert (task.task, json.loads(task.args), task.queue, task.enabled) == (
        "pushconfig.tasks.compensate", [config.pk], "push", True)
    assert crontab_of(task) == ("*/10", "*", "*", "*", "*", settings.TIME_ZONE)
    assert task.interval is None and cleanup_task(config) is None


def test_it_creates_the_daily_cleanup_task_at_the_cleanup_hour():
    config = make_config(URL, cleanup_enabled=True, cleanup_hour=23)
    task = cleanup_task(config)
    assert task.name == "Push log cleanup: oa2"
    assert (task.task, json.loads(task.args), task.queue, task.enabled) == (
        "pushconfig.tasks.cleanup", [config.pk], "push", True)
    assert crontab_of(task) == ("0", "23", "*", "*", "*", settings.TIME_ZONE)
    edit(config, cleanup_hour=4)
    assert crontab_of(cleanup_task(config))[:2] == ("0", "4")


def test_it_disables_compensation_with_the_config_and_keeps_cleaning_its_log():
    config = make_config(URL, compensation_enabled=True, compensation_cron="*/5 * * * *",
                         cleanup_enabled=True)
    before = compensation_task(config).pk
    edit(config, enabled=False)
    assert compensation_task(config).pk == before
    assert not compensation_task(config).enabled
    assert cleanup_task(config).enabled
    edit(config, enabled=True)
    assert compensation_task(config).enabled


def test_it_disables_each_task_when_its_switch_goes_off_and_enables_it_again():
    config = make_config(URL, compensation_enabled=True, compensation_cron="*/5 * * * *",
                         cleanup_enabled=True)
    edit(config, compensation_enabled=False, cleanup_enabled=False)
    assert (compensation_task(config).enabled, cleanup_task(config).enabled) == (False, False)
    edit(config, compensation_enabled=True, cleanup_enabled=True)
    assert (compensation_task(config).enabled, cleanup_task(config).enabled) == (True, True)
    assert PeriodicTask.objects.filter(args=json.dumps([config.pk])).count() == 2


def test_it_moves_the_task_to_the_edited_cron():
    config = make_config(URL, compensation_enabled=True, compensation_cron="*/5 * * * *")
    before = compensation_task(config)
    edit(config, compensation_cron="0 30 8 ? * MON-FRI")
    after = compensation_task(config)
    assert after.pk == before.pk
    assert crontab_of(after)[:5] == ("30", "8", "*", "*", "1-5")


def test_it_renames_the_tasks_when_the_identifier_is_edited():
    config = make_config(URL, compensation_enabled=True, compensation_cron="*/5 * * * *",
                         cleanup_enabled=True)
    ids = {compensation_task(config).pk, cleanup_task(config).pk}
    edit(config, identifier="oa-renamed")
    assert {compensation_task(config).pk, cleanup_task(config).pk} == ids
    assert sorted(PeriodicTask.objects.filter(pk__in=ids).values_list("name", flat=True)) == [
        "Push compensation: oa-renamed", "Push log cleanup: oa-renamed"]


def test_it_deletes_the_tasks_with_the_config_and_only_them():
    config = make_config(URL, compensation_enabled=True, compensation_cron="*/5 * * * *",
                         cleanup_enabled=True)
    other = make_config(URL, identifier="other", cleanup_enabled=True)
    pk = config.pk
    config.delete()
    assert schedules.tasks_of(pk) == {}
    assert not PeriodicTask.objects.filter(name__endswith=": oa2").exists()
    assert cleanup_task(other).name == "Push log cleanup: other"
    assert PeriodicTask.objects.filter(name="Push outbox sweeper").exists()


def test_it_deletes_the_compensation_task_when_the_cron_is_cleared():
    config = make_config(URL, compensation_enabled=True, compensation_cron="*/5 * * * *")
    edit(config, compensation_enabled=False, compensation_cron="")
    assert compensation_task(config) is None


def test_it_recreates_a_task_deleted_by_hand_on_the_next_save():
    config = make_config(URL, cleanup_enabled=True)
    cleanup_task(config).delete()
    edit(config, cleanup_keep_days=10)
    assert cleanup_task(config).enabled


def test_it_takes_over_a_leftover_name_and_never_steals_a_live_configs():
    daily = CrontabSchedule.objects.create(minute="0", hour="1")
    orphan = PeriodicTask.objects.create(name="Push log cleanup: oa2", task=schedules.CLEANUP_TASK,
                                         args="[999999]", crontab=daily)
    foreign = PeriodicTask.objects.create(name="Push compensation: oa2", task="someone.else",
                                          args="[]", crontab=daily)
    config = make_config(URL, cleanup_enabled=True, compensation_enabled=True,
                         compensation_cron="*/5 * * * *")
    assert cleanup_task(config).name == "Push log cleanup: oa2"
    assert not PeriodicTask.objects.filter(pk=orphan.pk).exists()
    assert compensation_task(config).name == f"Push compensation: oa2 (#{config.pk})"
    assert PeriodicTask.objects.filter(pk=foreign.pk).exists()


def test_it_leaves_beats_runtime_fields_alone_when_nothing_changed():
    config = make_config(URL, cleanup_enabled=True)
    ran = timezone.now() - timedelta(hours=1)
    PeriodicTask.objects.filter(pk=cleanup_task(config).pk).update(last_run_at=ran,
                                                                    total_run_count=3)
    edit(config, server_url="http://127.0.0.1:10")
    assert (cleanup_task(config).last_run_at, cleanup_task(config).total_run_count) == (ran, 3)


def test_it_runs_the_stored_task_with_its_args_as_beat_does():
    config = make_config(URL, compensation_enabled=True, compensation_cron="*/5 * * * *",
                         cleanup_enabled=True, cleanup_keep_days=1)
    PushRecord.objects.create(
        config=config, event_id="e1", idempotency_key=f"{config.pk}:e1", lane=0,
        request_id="r1", receiver="lisi", data_set="todo", business_status="todo",
        payload={}, outcome="success")
    PushRecord.objects.filter(config=config).update(created_at=timezone.now() - timedelta(days=2))
    for task in schedules.tasks_of(config.pk).values():
        app.tasks[task.task].apply(args=json.loads(task.args), queue=task.queue).get()
    assert not PushRecord.objects.filter(config=config).exists()


# -- bulk actions, admin and API ---------------------------------------------------------------
def test_it_keeps_in_step_when_the_admin_disables_and_enables_in_bulk(staff):
    config = make_config(URL, compensation_enabled=True, compensation_cron="*/5 * * * *")
    changelist = reverse("admin:pushconfig_pushconfig_changelist")
    staff.post(changelist, {"action": "disable_configs", "_selected_action": [config.pk]})
    assert not compensation_task(config).enabled
    staff.post(changelist, {"action": "enable_configs", "_selected_action": [config.pk]})
    assert compensation_task(config).enabled


def test_it_shows_compensation_and_cleanup_in_the_admin_with_the_next_runs(staff):
    config = make_config(URL, compensation_enabled=True, compensation_cron="0 0 12 ? * MON-FRI")
    page = staff.get(reverse("admin:pushconfig_pushconfig_change", args=[config.pk]),
                     **EN).content.decode()
    for text in ("Compensation", "Cleanup", 'name="compensation_cron"', 'name="cleanup_hour"',
                 'name="cleanup_keep_days"', "Next runs", "Time zone: Asia/Shanghai",
                 "day of week 1-5"):
        assert text in page
    assert next_runs(config.compensation_cron, 1)[0].strftime("%Y-%m-%d 12:00") in page


def test_it_refuses_an_unschedulable_cron_in_the_admin_naming_the_field(staff):
    page = staff.post(reverse("admin:pushconfig_pushconfig_add"),
                      form_data(compensation_enabled="on", compensation_cron="0 0 0 ? * MON#2"),
                      **EN).content.decode()
    assert "errors field-compensation_cron" in page or "field-compensation_cron errors" in page
    assert "cannot be scheduled by celery beat" in page
    assert not PushConfig.objects.exists()


def test_it_schedules_a_config_saved_in_the_admin(staff):
    r = staff.post(reverse("admin:pushconfig_pushconfig_add"),
                   form_data(compensation_enabled="on", compensation_cron="0 0/15 * * * ?",
                             cleanup_enabled="on", cleanup_hour="21"))
    assert r.status_code == 302, r.content.decode()[:2000]
    config = PushConfig.objects.get(identifier="oa-main")
    assert crontab_of(compensation_task(config))[0] == "*/15"
    assert crontab_of(cleanup_task(config))[1] == "21"


def api_payload(**overrides):
    data = {"enabled": True, "identifier": "api-oa", "system_name": "接口OA",
            "server_url": URL, "push_type": "ecology", "params": {"sysCode": "OA"}}
    data.update(overrides)
    return data


def test_it_takes_and_shows_the_settings_over_the_api_and_schedules_them(api):
    r = api.post("/api/v1/push-configs/", api_payload(
        compensation_enabled=True, compensation_cron="0 0/10 * * * ?", compensation_retries=4,
        compensation_wait=15, cleanup_enabled=True, cleanup_hour=22, cleanup_keep_days=90),
        format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert {k: body[k] for k in ("compensation_enabled", "compensation_cron",
                                 "compensation_retries", "compensation_wait", "cleanup_enabled",
                                 "cleanup_hour", "cleanup_keep_days")} == {
        "compensation_enabled": True, "compensation_cron": "0 0/10 * * * ?",
        "compensation_retries": 4, "compensation_wait": 15, "cleanup_enabled": True,
        "cleanup_hour": 22, "cleanup_keep_days": 90}
    assert len(body["compensation_next_runs"]) == 5
    config = PushConfig.objects.get(pk=body["id"])
    assert compensation_task(config).enabled and cleanup_task(config).enabled
    r = api.patch(f"/api/v1/push-configs/{config.pk}", {"enabled": False}, format="json")
    assert r.status_code == 200 and not compensation_task(config).enabled


@pytest.mark.parametrize("values, message", [
    ({"compensation_cron": "30 0/10 * * * ?"}, "Seconds: only 0"),
    ({"compensation_enabled": True}, "Give the schedule"),
    ({"compensation_cron": "0 0 1 * MON"}, "both restricted"),
])
def test_it_refuses_a_bad_cron_over_the_api_naming_the_field(api, values, message):
    with translation.override("en"):
        r = api.post("/api/v1/push-configs/", api_payload(**values), format="json",
                     HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 400 and list(r.json()) == ["compensation_cron"]
    assert message in r.json()["compensation_cron"][0]
    assert not PushConfig.objects.exists()


@pytest.mark.parametrize("field, value", [("compensation_retries", 11), ("compensation_wait", 0),
                                          ("cleanup_hour", 12), ("cleanup_keep_days", 366)])
def test_it_refuses_values_outside_the_seeds_ranges_over_the_api(api, field, value):
    r = api.post("/api/v1/push-configs/", api_payload(**{field: value}), format="json")
    assert r.status_code == 400 and list(r.json()) == [field]


def test_it_previews_a_saved_or_a_proposed_schedule_over_the_api(api):
    config = make_config(URL, compensation_enabled=True, compensation_cron="*/20 * * * *",
                         cleanup_enabled=True, cleanup_hour=3)
    r = api.get(f"/api/v1/push-configs/{config.pk}/schedule-preview")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["compensation_cron"] == "*/20 * * * *"
    assert body["time_zone"] == settings.TIME_ZONE
    assert body["compensation"]["scheduled"] is True
    assert body["compensation"]["crontab"]["minute"] == "*/20"
    assert len(body["compensation"]["next_runs"]) == 5
    assert all(run.endswith(":00+08:00") for run in body["cleanup"]["next_runs"])
    assert all("T03:00:00" in run for run in body["cleanup"]["next_runs"])
    r = api.get(f"/api/v1/push-configs/{config.pk}/schedule-preview",
                {"cron": "0 0 12 ? * MON-FRI", "count": 2})
    assert r.json()["compensation"]["crontab"]["day_of_week"] == "1-5"
    assert len(r.json()["compensation"]["next_runs"]) == 2
    r = api.get(f"/api/v1/push-configs/{config.pk}/schedule-preview", {"cron": "0 0 0 L * ?"},
                HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 400 and list(r.json()) == ["compensation_cron"]
