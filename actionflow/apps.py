from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

HOUSEKEEPING = (
    # name, task, seconds setting (None: a daily crontab at 03:30)
    ("Action flow run sweeper", "actionflow.tasks.sweep_runs", "FLOW_SWEEP_SECONDS"),
    ("Action flow date triggers", "actionflow.tasks.fire_date_triggers",
     "FLOW_DATE_TRIGGER_SECONDS"),
    ("Action flow run pruning", "actionflow.tasks.prune_runs", None),
)


def ensure_schedules(sender, **kwargs):
    """The sweeper, the date-trigger pass and the nightly pruning as database schedules, so
    they show (and can be paused) in the admin like every other."""
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    for name, task_name, seconds in HOUSEKEEPING:
        if seconds:
            every, _created = IntervalSchedule.objects.get_or_create(
                every=getattr(settings, seconds), period=IntervalSchedule.SECONDS)
            schedule = {"interval": every}
        else:
            crontab, _created = CrontabSchedule.objects.get_or_create(
                minute="30", hour="3", day_of_month="*", month_of_year="*", day_of_week="*",
                timezone=settings.TIME_ZONE)
            schedule = {"crontab": crontab}
        task, created = PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task_name, "queue": "flows", **schedule})
        if not created and any(getattr(task, k + "_id") != v.pk for k, v in schedule.items()):
            for key, value in schedule.items():
                setattr(task, key, value)
            task.save()


class ActionflowConfig(AppConfig):
    name = "actionflow"
    verbose_name = _("Action flows")

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from integration.signals import workflow_events_accepted, workflow_events_answering

        from . import schedules, steps, triggers  # noqa: F401  (steps register themselves)
        from .models import ActionFlow

        workflow_events_accepted.connect(triggers.on_workflow_events,
                                         dispatch_uid="actionflow.workflow_trigger")
        workflow_events_answering.connect(triggers.on_workflow_answer,
                                          dispatch_uid="actionflow.before_flows")
        post_save.connect(schedules.on_save, sender=ActionFlow,
                          dispatch_uid="actionflow.schedules.save")
        post_delete.connect(schedules.on_delete, sender=ActionFlow,
                            dispatch_uid="actionflow.schedules.delete")
        post_migrate.connect(ensure_schedules, sender=self,
                             dispatch_uid="actionflow.housekeeping")
