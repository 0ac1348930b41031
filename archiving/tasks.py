"""Celery tasks of archiving (routed to the "archive" queue by config.celery). All are
idempotent: a job is claimed in the database before it runs, and pruning deletes only what is
finished and old."""
from celery import shared_task

from . import outbox


@shared_task(name="archiving.tasks.run_job", acks_late=True, ignore_result=True)
def run_job(job_id):
    job = outbox.run_job(job_id)
    return None if job is None else job.status


@shared_task(name="archiving.tasks.sweep", acks_late=True, ignore_result=True)
def sweep():
    return outbox.sweep()


@shared_task(name="archiving.tasks.prune_jobs", acks_late=True, ignore_result=True)
def prune_jobs():
    return outbox.prune()
