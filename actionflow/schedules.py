"""The beat task of each schedule-triggered flow ("Action flow: <name>"), kept in step with
the flow like push compensation schedules are (pushconfig.schedules): created when first
needed, disabled with the flow (kept, with its history), deleted with it."""
import json
import logging

from pushconfig.cron import CronError, parse

log = logging.getLogger(__name__)

TASK = "actionflow.tasks.run_scheduled"
NAME = "Action flow: {name}"


def sync(flow):
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from django.conf import settings

    args = json.dumps([flow.pk])
    task = PeriodicTask.objects.filter(task=TASK, args=args).first()
    wanted = flow.enabled and flow.trigger == flow.Trigger.SCHEDULE and flow.cron.strip()
    fields = None
    if wanted:
        try:
            fields = parse(flow.cron).crontab_fields()
        except CronError:
            log.warning("action flow %s has an unusable cron %r", flow.pk, flow.cron)
    if fields is None:
        if task is not None and task.enabled:
            task.enabled = False
            task.save(update_fields=["enabled"])
        return task
    crontab, _created = CrontabSchedule.objects.get_or_create(timezone=settings.TIME_ZONE,
                                                              **fields)
    name = NAME.format(name=flow.name)[:200]
    if task is None:
        return PeriodicTask.objects.create(name=name, task=TASK, args=args, crontab=crontab,
                                           queue="flows", enabled=True)
    task.name, task.crontab, task.enabled = name, crontab, True
    task.save()
    return task


def on_save(sender, instance, raw=False, **kwargs):
    if not raw:
        sync(instance)


def on_delete(sender, instance, **kwargs):
    from django_celery_beat.models import PeriodicTask

    for task in PeriodicTask.objects.filter(task=TASK, args=json.dumps([instance.pk])):
        task.delete()
