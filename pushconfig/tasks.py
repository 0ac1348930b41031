"""Celery tasks of the push pipeline (queue "push")."""
from celery import shared_task

from . import delivery


@shared_task(name="pushconfig.tasks.deliver_lane", acks_late=True, ignore_result=True)
def deliver_lane(config_id, lane):
    sent = delivery.run_lane(config_id, lane)
    # Work left (out of time, or it arrived while we held the lane): hand the lane on.
    if sent is not None and delivery.next_batch(config_id, lane, 1):
        deliver_lane.apply_async((config_id, lane), retry=False)


@shared_task(name="pushconfig.tasks.sweep_outbox", acks_late=True, ignore_result=True)
def sweep_outbox():
    return delivery.sweep()
