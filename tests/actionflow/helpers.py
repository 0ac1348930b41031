"""Helpers of the action flow tests: build a flow the way the admin saves one (checked, then
published), run it, and execute the runs triggers started."""
from django.utils import timezone

from actionflow import engine
from actionflow.definition import check_steps, publish
from actionflow.models import ActionFlow, FlowRun, FlowStep

STEP_DEFAULTS = {"name": "", "config": {}, "tries": 1, "retry_wait": 0, "on_failure": "stop"}


class FlowProblem(AssertionError):
    """The flow a test described would be refused when saved."""


def make_flow(name, trigger=ActionFlow.Trigger.CALLED, steps=(), *, publish_it=True,
              **fields):
    """An enabled ActionFlow with `steps` (dicts of key, kind, config and optionally name,
    tries, retry_wait, on_failure), checked as a save checks it and published as version 1
    unless `publish_it` is false. `fields` are the flow's own (operator, record_kind, …)."""
    fields.setdefault("enabled", True)
    flow = ActionFlow(name=name, trigger=trigger, **fields)
    flow.full_clean()
    steps = [{**STEP_DEFAULTS, **step} for step in steps]
    problems = check_steps(steps)
    if problems:
        raise FlowProblem({steps[i]["key"]: messages for i, messages in problems.items()})
    flow.save()
    FlowStep.objects.bulk_create(
        FlowStep(flow=flow, order=index, **step) for index, step in enumerate(steps, start=1))
    if publish_it:
        publish(flow)
    return flow


def run_flow(flow, input=None, trigger=FlowRun.Trigger.MANUAL):
    """Run `flow` here, to its end, and return the finished run."""
    return engine.run_now(flow, trigger, input or {})


def execute_queued(flow=None):
    """Execute every queued run (of `flow`, or of all flows) in order, as workers would;
    returns the runs as they ended. Tests need it because runs started inside a test's
    transaction are enqueued on commit, which never comes."""
    runs = FlowRun.objects.filter(status=FlowRun.Status.QUEUED).order_by("id")
    if flow is not None:
        runs = runs.filter(flow=flow)
    return [engine.execute(run_id) for run_id in list(runs.values_list("id", flat=True))]


def step_log(run, key):
    """The step log of `key` in `run`."""
    return run.steps.get(key=key)


def later(**delta):
    """Now moved forward (or back, with negative values) by a timedelta's arguments."""
    from datetime import timedelta

    return timezone.now() + timedelta(**delta)
