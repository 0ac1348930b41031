from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

SWEEP_TASK = "pushconfig.tasks.sweep_outbox"


def ensure_schedules(sender, **kwargs):
    """The outbox sweeper runs every 30 s under beat; kept as a database schedule so it shows
    (and can be paused) in the admin like every other."""
    from django.conf import settings
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every, _created = IntervalSchedule.objects.get_or_create(
        every=settings.PUSH_SWEEP_SECONDS, period=IntervalSchedule.SECONDS)
    task, created = PeriodicTask.objects.get_or_create(
        name="Push outbox sweeper", defaults={"task": SWEEP_TASK, "interval": every,
                                              "queue": "push"})
    if not created and task.interval_id != every.pk:
        task.interval = every
        task.save(update_fields=["interval"])


class PushconfigConfig(AppConfig):
    name = "pushconfig"
    verbose_name = _("Unified todo push")

    def ready(self):
        from . import pipeline

        pipeline.connect()
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="pushconfig.schedules")
        # Compensation and cleanup beat tasks follow each config (pushconfig.schedules).
        from django.db.models.signals import post_delete, post_save

        from . import schedules
        from .models import PushConfig

        post_save.connect(schedules.on_save, sender=PushConfig,
                          dispatch_uid="pushconfig.schedules.save")
        post_delete.connect(schedules.on_delete, sender=PushConfig,
                            dispatch_uid="pushconfig.schedules.delete")
        from . import alerts

        alerts.connect()
        # Batch push tasks: importing registers their Celery tasks (queue "batch"); the daily
        # purge and the sweeper are beat schedules kept like the outbox sweeper's.
        from . import batch

        post_migrate.connect(batch.ensure_schedules, sender=self,
                             dispatch_uid="pushconfig.batch.schedules")
