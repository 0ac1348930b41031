"""The Celery app. Queues are named by purpose so that a flood of one kind of work
(a history re-push of 100k records) never starves another (live pushes)."""
import os

from celery import Celery, signals
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")

QUEUES = ("default", "push", "batch", "flows", "archive")

app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="default",
    task_routes={
        "pushconfig.tasks.*": {"queue": "push"},
        "pushconfig.batch.*": {"queue": "batch"},
        "actionflow.tasks.*": {"queue": "flows"},
        "archiving.tasks.*": {"queue": "archive"},
    },
    # At-least-once: a task is acknowledged after it ran, and handed back to the broker when
    # the worker process dies mid-task. Every task must therefore be idempotent.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_ignore_result=True,
    beat_scheduler="django_celery_beat.schedulers:DatabaseScheduler",
    broker_connection_retry_on_startup=True,
    # A worker waits for the broker however long it is away (the default gives up after
    # 100 tries, about 45 minutes).
    broker_connection_max_retries=None,

)
app.autodiscover_tasks()

from integration.broker import use_repaired_redis_transport  # noqa: E402
from integration.watchdog import install_watchdog  # noqa: E402  (needs the app above)

use_repaired_redis_transport()
install_watchdog(app)


@signals.worker_process_init.connect
def _freeze(**_kwargs):
    """Each pool process, once forked with the app loaded (config.startup says why)."""
    from config.startup import freeze_loaded_objects

    freeze_loaded_objects()
