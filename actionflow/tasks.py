"""Celery tasks of action flows, all on the "flows" queue (config/celery.py routes them).
Each is safe to run twice: runs are claimed with a lease, date triggers are marked once."""
from celery import shared_task


@shared_task(name="actionflow.tasks.execute_run", acks_late=True)
def execute_run(run_id):
    from . import engine

    engine.execute(run_id)


@shared_task(name="actionflow.tasks.sweep_runs")
def sweep_runs():
    from . import engine

    return engine.sweep()


@shared_task(name="actionflow.tasks.prune_runs")
def prune_runs():
    from . import engine

    return engine.prune()


@shared_task(name="actionflow.tasks.fire_date_triggers")
def fire_date_triggers():
    from . import triggers

    return triggers.fire_date_triggers()


@shared_task(name="actionflow.tasks.run_scheduled", acks_late=True)
def run_scheduled(flow_id):
    from . import triggers

    run = triggers.run_scheduled(flow_id)
    return run.pk if run else None


@shared_task(name="actionflow.tasks.alert_failed_run")
def alert_failed_run(run_id):
    from . import alerts

    alerts.alert_failed_run(run_id)
