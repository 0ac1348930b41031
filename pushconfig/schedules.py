"""Beat schedules of each push config, kept in step with it: scheduled compensation (补偿设置)
and daily cleanup of the push log (定时清理) as two django-celery-beat PeriodicTasks.

* "Push compensation: <identifier>" runs `pushconfig.tasks.compensate` on the config's cron
  (see pushconfig.cron), enabled while the config and its compensation are;
* "Push log cleanup: <identifier>" runs `pushconfig.tasks.cleanup` daily at the cleanup hour,
  enabled while cleanup is (a disabled config's old log is still cleaned).

Both run in the console's TIME_ZONE on the "push" queue. A task is found by what beat actually
runs — its task name and its args `[config id]` — so renaming the identifier renames the task
instead of orphaning it. A task is created the first time it would be enabled, disabled (kept,
with its history) when switched off, and deleted with its config. `sync()` runs on every save
of a config (a post_save receiver, connected in apps.py) and `sync_many()` after bulk updates,
which send no signals.
"""
import json
import logging

from django.conf import settings
from django.db.models import Q

from .cron import CronError, parse

log = logging.getLogger(__name__)

COMPENSATE_TASK = "pushconfig.tasks.compensate"
CLEANUP_TASK = "pushconfig.tasks.cleanup"
QUEUE = "push"
# Names are part of the beat admin's vocabulary (and unique there); kept in English like the
# "Push outbox sweeper" created in apps.py.
COMPENSATE_NAME = "Push compensation: {identifier}"
CLEANUP_NAME = "Push log cleanup: {identifier}"


def args_of(config_id):
    return json.dumps([config_id])


def tasks_of(config_id):
    """The config's PeriodicTasks: {task name: PeriodicTask}."""
    from django_celery_beat.models import PeriodicTask

    found = PeriodicTask.objects.filter(task__in=[COMPENSATE_TASK, CLEANUP_TASK],
                                        args=args_of(config_id)).select_related("crontab")
    return {task.task: task for task in found.order_by("id")}


def compensation_crontab(config):
    """The CrontabSchedule fields of the config's compensation, or None when it has no usable
    cron (blank, or saved past validation by code)."""
    if not (config.compensation_cron or "").strip():
        return None
    try:
        return parse(config.compensation_cron).crontab_fields()
    except CronError:
        log.warning("push config %s has an unusable compensation cron %r; not scheduled",
                    config.pk, config.compensation_cron)
        return None


def cleanup_crontab(config):
    return {"minute": "0", "hour": str(config.cleanup_hour), "day_of_month": "*",
            "month_of_year": "*", "day_of_week": "*"}


def sync(config):
    """Create, update, disable or delete the config's two PeriodicTasks to match it."""
    existing = tasks_of(config.pk)
    _keep(config, existing.get(COMPENSATE_TASK), COMPENSATE_TASK, COMPENSATE_NAME,
          compensation_crontab(config), config.enabled and config.compensation_enabled)
    _keep(config, existing.get(CLEANUP_TASK), CLEANUP_TASK, CLEANUP_NAME,
          cleanup_crontab(config), config.cleanup_enabled)


def sync_many(queryset):
    """After a bulk update (admin enable/disable), which sends no post_save."""
    for config in queryset.order_by("pk"):
        sync(config)


def remove(config_id):
    """Delete the config's tasks (one by one: PeriodicTask.delete tells beat)."""
    for task in tasks_of(config_id).values():
        task.delete()


def on_save(sender, instance, raw=False, **kwargs):
    """post_save of PushConfig (connected in apps.py); fixtures (raw) are left alone."""
    if not raw:
        sync(instance)


def on_delete(sender, instance, **kwargs):
    """post_delete of PushConfig: its tasks go with it."""
    remove(instance.pk)


def _keep(config, task, task_name, name_format, fields, enabled):
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    if fields is None:
        if task is not None:
            task.delete()
        return
    if task is None and not enabled:
        return  # never switched on: nothing to schedule yet
    crontab, _created = CrontabSchedule.objects.get_or_create(timezone=settings.TIME_ZONE,
                                                              **fields)
    name = _free_name(name_format.format(identifier=config.identifier), task, config.pk)
    if task is None:
        task = PeriodicTask(task=task_name, args=args_of(config.pk))
    elif (task.name, task.crontab_id, task.enabled, task.queue, task.description) == (
            name, crontab.pk, enabled, QUEUE, str(config)):
        return  # unchanged: leave beat's runtime fields (last run, count) alone
    task.name, task.crontab, task.enabled, task.queue = name, crontab, enabled, QUEUE
    task.interval = task.solar = task.clocked = None
    task.description = str(config)
    task.save()


def _free_name(wanted, task, config_id):
    """The wanted name, unless another task holds it: then a leftover of ours whose config is
    gone is removed, and a task of a live config (two identifiers swapped in two saves) makes
    us add the config id."""
    from django_celery_beat.models import PeriodicTask

    from .models import PushConfig

    holder = PeriodicTask.objects.filter(name=wanted).exclude(
        pk=task.pk if task is not None else None).first()
    if holder is None:
        return wanted
    if holder.task in (COMPENSATE_TASK, CLEANUP_TASK):
        try:
            owner = json.loads(holder.args or "[]")[0]
        except (ValueError, IndexError, TypeError):
            owner = None
        if not PushConfig.objects.filter(Q(pk=owner) & ~Q(pk=config_id)).exists():
            holder.delete()
            return wanted
    return f"{wanted} (#{config_id})"
