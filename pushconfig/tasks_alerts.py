"""The Celery task of failure alerts (default queue: alerts must not wait behind a flood of
pushes on the "push" queue)."""
from celery import shared_task

from . import alerts

# Waits before each retry of the channels that failed transiently (seconds).
RETRY_COUNTDOWNS = (30, 120, 600)


@shared_task(name="pushconfig.alerts.send_fuse_alerts", bind=True, acks_late=True,
             ignore_result=True, max_retries=len(RETRY_COUNTDOWNS))
def send_fuse_alerts(self, fuse_id, event):
    failed = alerts.send_alerts(fuse_id, event)
    tries = self.request.retries
    if failed and tries < len(RETRY_COUNTDOWNS):
        raise self.retry(countdown=RETRY_COUNTDOWNS[tries])
    return failed
