from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

SWEEP_TASK = "archiving.tasks.sweep"
SWEEP_NAME = "Archive outbox sweeper"
PRUNE_TASK = "archiving.tasks.prune_jobs"
PRUNE_NAME = "Archive job pruning"


def ensure_schedules(sender, **kwargs):
    """The archive job sweeper and the nightly pruning of finished jobs run under beat as
    database schedules, so they show (and can be paused) in the admin like the push outbox
    sweeper."""
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    from . import conf

    every, _created = IntervalSchedule.objects.get_or_create(
        every=conf.get("ARCHIVE_SWEEP_SECONDS"), period=IntervalSchedule.SECONDS)
    task, created = PeriodicTask.objects.get_or_create(
        name=SWEEP_NAME, defaults={"task": SWEEP_TASK, "interval": every, "queue": "archive"})
    if not created and task.interval_id != every.pk:
        task.interval = every
        task.save(update_fields=["interval"])
    # Nightly, when the archive queue is quiet (and apart from the push purge at 03:30).
    nightly, _created = CrontabSchedule.objects.get_or_create(
        minute="45", hour="3", day_of_month="*", month_of_year="*", day_of_week="*",
        timezone=settings.TIME_ZONE)
    PeriodicTask.objects.get_or_create(name=PRUNE_NAME, defaults={
        "task": PRUNE_TASK, "crontab": nightly, "queue": "archive"})


class ArchivingConfig(AppConfig):
    name = "archiving"
    verbose_name = _("Archive integration")

    def ready(self):
        # Registers the serverless Action intias_wf 1.0 with actionflow's registry.
        from . import action  # noqa: F401
        from . import conf, outbox

        conf.check_lease()
        outbox.connect()
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="archiving.schedules")
