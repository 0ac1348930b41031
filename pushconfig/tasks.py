"""Celery tasks of the push pipeline (queue "push")."""
from celery import shared_task
from celery.signals import worker_process_shutdown

from . import delivery


@shared_task(name="pushconfig.tasks.deliver_lane", acks_late=True, ignore_result=True)
def deliver_lane(config_id, lane):
    run = delivery.run_lane(config_id, lane)
    # Work left (out of time, or it arrived while we held the lane): hand the lane on. A lane
    # that is disabled, fused or waiting for retries is not re-queued: the sweeper wakes it.
    if run is not None and run.more:
        deliver_lane.apply_async((config_id, lane), retry=False)


@worker_process_shutdown.connect
def _close_sessions(**kwargs):
    delivery.close_sessions()


@shared_task(name="pushconfig.tasks.sweep_outbox", acks_late=True, ignore_result=True)
def sweep_outbox():
    return delivery.sweep()


@shared_task(name="pushconfig.tasks.compensate", acks_late=True, ignore_result=True)
def compensate(config_id):
    """Beat, on the config's compensation cron (pushconfig.schedules). Idempotent: records are
    claimed in the database, so a repeated or concurrent run re-pushes nothing twice."""
    from . import compensation

    return compensation.run(config_id).as_dict()


@shared_task(name="pushconfig.tasks.cleanup", acks_late=True, ignore_result=True)
def cleanup(config_id):
    """Beat, daily at the config's cleanup hour. Idempotent: a repeated run finds less."""
    from . import cleanup as push_log_cleanup

    report = push_log_cleanup.run_for(config_id)
    return report.as_dict() if report is not None else None
