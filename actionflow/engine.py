"""Running action flows.

`start()` writes a run (status queued) in the caller's transaction and enqueues it on commit;
`execute()` claims a run with a lease, so one process at a time executes it, and runs its
version's steps in order. Each step is logged before it starts and when it ends; a run that
lost its worker is claimed again once the lease expires and resumes after the last finished
step (the unfinished step runs again: at least once). After FLOW_RUN_MAX_EXECUTIONS claims a
run is failed with the reason, and can be re-run.

Steps are executed outside any transaction: they call other systems, and their log rows must
stay even when the step fails.
"""
import json
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from integration.secrets import mask, mask_forms, secret_forms

from .definition import owners
from .expressions import EvaluationError, render
from .models import ActionFlow, FlowRun, StepRun, TriggerMark
from .steps import Runtime, StepFailed, UnknownStep, get_step_class

log = logging.getLogger(__name__)

Status = FlowRun.Status
HANDED_OVER = StepFailed("handed over to a worker")


class FlowNotReady(Exception):
    """The flow has no published version yet."""


def start(flow, trigger, input, *, version=None, inline=False, enqueue=True, **fields):
    """A new queued run of `flow` (its current version unless given), in the caller's
    transaction; a worker picks it up after commit unless it is `inline`."""
    version = version or flow.current_version()
    if version is None:
        raise FlowNotReady(_("The flow “%(name)s” has no saved version yet.") % {"name": flow})
    run = FlowRun.objects.create(flow=flow, version=version, trigger=trigger,
                                 input=jsonable(input or {}), inline=inline, **fields)
    if enqueue and not inline:
        transaction.on_commit(lambda: enqueue_run(run.pk))
    return run


def enqueue_run(run_id):
    """Hand a run to the flows queue; a broker outage only delays it (the sweeper)."""
    from .tasks import execute_run

    try:
        execute_run.apply_async(args=[run_id], retry=False)
    except Exception:  # the broker is away: the sweeper enqueues it later
        log.warning("could not enqueue flow run %s; the sweeper will", run_id, exc_info=True)


def run_now(flow, trigger, input, *, timeout=None, deadline=None, **fields):
    """Start a run and execute it here, waiting at most `timeout` seconds (or until the
    caller's `deadline`). A run still going then is handed to a worker; the returned run
    says which (its status is still running)."""
    limit = time.monotonic() + timeout if timeout else None
    if deadline is not None:
        limit = deadline if limit is None else min(limit, deadline)
    with transaction.atomic():
        run = start(flow, trigger, input, inline=True, **fields)
    return execute(run.pk, deadline=limit) or FlowRun.objects.get(pk=run.pk)


def rerun(run, current=False, user=""):
    """Run `run`'s input again from the start, with the version it ran or the current one."""
    flow = run.flow
    version = flow.current_version() if current else run.version
    with transaction.atomic():
        return start(flow, FlowRun.Trigger.RERUN, run.input, version=version, rerun_of=run,
                     event_id=run.event_id, push_record_id=run.push_record_id,
                     requested_by=str(user or "")[:150])


# -- claiming ------------------------------------------------------------------------------
def lease_seconds():
    return settings.FLOW_RUN_LEASE_SECONDS


def claim(run_id):
    """Take the run for this process: queued, or running with an expired lease. Returns the
    run, or None when another process holds it or it is finished."""
    now = timezone.now()
    taken = FlowRun.objects.filter(pk=run_id).filter(
        Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_until__isnull=True)
        | Q(status=Status.RUNNING, lease_until__lt=now),
    ).update(status=Status.RUNNING, lease_until=now + timedelta(seconds=lease_seconds()),
             attempts=F("attempts") + 1, started_at=Coalesce("started_at", now))
    if not taken:
        return None
    return FlowRun.objects.select_related("flow", "version").get(pk=run_id)


class LeaseLost(Exception):
    """Another process took the run over (this one outlived its lease): stop touching it."""


def _mine(run):
    """The run's row while this execution still holds it: `attempts` is the fencing token
    handed out by claim(), so a process whose lease another took over changes nothing."""
    return FlowRun.objects.filter(pk=run.pk, status=Status.RUNNING, attempts=run.attempts)


def renew(run):
    if not _mine(run).update(lease_until=timezone.now() + timedelta(seconds=lease_seconds())):
        raise LeaseLost()


def hand_over(run):
    """Stop executing here and let a worker go on (lease expired at once)."""
    if _mine(run).update(lease_until=timezone.now()):
        enqueue_run(run.pk)


class Heartbeat:
    """Renews the lease while one step runs, however long it takes (an HTTP step of 120 s, a
    called flow), so only a dead process ever loses its run. Beats are a third of the lease
    apart; a beat that finds the run taken over marks `lost`, and leaving the block then raises
    LeaseLost (whatever the step did: the run is another execution's now)."""

    def __init__(self, run):
        self.run, self.lost = run, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"flow-run-{run.pk}-heartbeat")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.lost:
            raise LeaseLost()

    def _beat(self):
        from django.db import connection

        try:
            while not self._stop.wait(lease_seconds() / 3):
                try:
                    renew(self.run)
                except LeaseLost:
                    self.lost = True
                    return
                except Exception:  # a database hiccup: the next beat tries again
                    log.warning("heartbeat of flow run %s failed", self.run.pk, exc_info=True)
        finally:
            connection.close()


# -- executing -----------------------------------------------------------------------------
def execute(run_id, deadline=None):
    """Claim and execute a run; returns the run as it ended here, or None when it was not
    this process's to run (or another process took it over meanwhile)."""
    run = claim(run_id)
    if run is None:
        return None
    try:
        return _execute(run, deadline)
    except LeaseLost:
        log.warning("flow run %s was taken over by another process; leaving it", run.pk)
        return None


def _execute(run, deadline):
    if run.attempts > settings.FLOW_RUN_MAX_EXECUTIONS:
        return finish(run, Status.FAILED, _(
            "The run lost its worker %(n)d times; it was stopped. Re-run it when the cause "
            "is fixed.") % {"n": run.attempts - 1})
    definition = run.version.definition
    steps = definition.get("steps") or []
    owned = owners(steps)
    done = {s.key: s for s in run.steps.all()}
    context = base_context(run, definition)
    chosen = {}
    for step_log in done.values():
        if step_log.status != StepRun.Status.RUNNING:
            context["steps"][step_log.key] = step_log.output
            if step_log.kind == "branch" and step_log.status == StepRun.Status.SUCCESS:
                chosen[step_log.key] = step_log.output.get("arm")
    runtime = Runtime(run=run, flow=run.flow, operator=definition.get("operator") or "",
                      deadline=deadline, context=context)
    secrets = list(context.get("secrets", {}).values())

    for seq, step in enumerate(steps):
        key = step["key"]
        previous = done.get(key)
        if previous is not None and previous.status != StepRun.Status.RUNNING:
            if previous.status == StepRun.Status.FAILED and not previous.continued:
                return finish(run, Status.FAILED, previous.error, failed_step=key)
            if step["kind"] == "output" and previous.status == StepRun.Status.SUCCESS:
                return finish(run, previous.output.get("status"), previous.output.get("message"))
            continue
        owner = owned.get(key)
        if owner and chosen.get(owner[0], object()) != owner[1]:
            continue
        if deadline is not None and time.monotonic() >= deadline:
            hand_over(run)
            return FlowRun.objects.get(pk=run.pk)
        renew(run)
        runtime.step_key = key
        result, failure = run_step(run, seq, step, runtime, previous, secrets)
        if failure is HANDED_OVER:
            hand_over(run)
            return FlowRun.objects.get(pk=run.pk)
        context["steps"][key] = (result.output if failure is None
                                 else {**failure.output, "error": failure.reason})
        if failure is not None:
            if step.get("on_failure") == "continue":
                continue
            return finish(run, Status.FAILED, _("Step “%(step)s” failed: %(reason)s")
                          % {"step": step.get("name") or key, "reason": failure.reason},
                          failed_step=key)
        if result.arm is not None:
            chosen[key] = result.arm
        if result.finish:
            status, message = result.finish
            return finish(run, Status.SUCCESS if status == "success" else Status.FAILED,
                          message, failed_step="" if status == "success" else key)
    return finish(run, Status.SUCCESS, "")


def run_step(run, seq, step, runtime, previous, secrets):
    """Execute one step with its tries; returns (StepResult, StepFailed or None)."""
    from .steps import StepResult

    now = timezone.now()
    if previous is None:
        try:
            with transaction.atomic():
                log_row = StepRun.objects.create(run=run, seq=seq, key=step["key"],
                                                 kind=step["kind"], name=step.get("name") or "",
                                                 started_at=now)
        except IntegrityError:  # another execution logged this step: the run is not ours
            raise LeaseLost() from None
    else:  # the step a lost worker left unfinished: it runs again
        log_row = previous
        log_row.started_at = now
    started = time.monotonic()
    tries = max(1, int(step.get("tries") or 1))
    failure, result, settings_now = None, StepResult(), {}
    for attempt in range(1, tries + 1):
        log_row.tries = attempt
        try:
            cls = get_step_class(step["kind"])
            runtime.context["now"] = timezone.now()
            settings_now = render(step.get("config") or {}, runtime.context)
            with Heartbeat(run):
                result = cls().run(settings_now, runtime)
            failure = None
            break
        except LeaseLost:  # not the step's failure: no retry, no log row of ours
            raise
        except StepFailed as exc:
            failure = exc
        except (UnknownStep, EvaluationError) as exc:
            failure = StepFailed(str(exc))
        except Exception as exc:  # a bug in a step must fail the run visibly, not the worker
            log.exception("step %s of flow run %s raised", step["key"], run.pk)
            failure = StepFailed(_("Unexpected error: %(error)s") % {"error": repr(exc)[:300]})
        if not failure.transient or attempt == tries:
            break
        wait = int(step.get("retry_wait") or 0)
        if runtime.deadline is not None and time.monotonic() + wait >= runtime.deadline:
            break
        with Heartbeat(run):
            time.sleep(wait)
    if (failure is not None and failure.transient and runtime.deadline is not None
            and time.monotonic() >= runtime.deadline - 0.1):
        # The caller's time limit cut the step short, not the target: a worker tries it again
        # with the step's own timeouts.
        log_row.input = scrub(settings_now, secrets)
        log_row.status = StepRun.Status.RUNNING
        log_row.error = scrub(failure.reason, secrets)
        log_row.save()
        return result, HANDED_OVER
    log_row.input = scrub(settings_now, secrets)
    log_row.output = scrub(result.output if failure is None else failure.output, secrets)
    log_row.error = "" if failure is None else scrub(failure.reason, secrets)
    log_row.status = StepRun.Status.SUCCESS if failure is None else StepRun.Status.FAILED
    log_row.continued = failure is not None and step.get("on_failure") == "continue"
    log_row.finished_at = timezone.now()
    log_row.duration_ms = int((time.monotonic() - started) * 1000)
    renew(run)  # still ours: then the log and what follows are this execution's to write
    log_row.save()
    return result, failure


def finish(run, status, message="", failed_step=""):
    message = scrub(str(message or ""), list(flow_secrets(run.flow).values()))
    now = timezone.now()
    started = run.started_at or now
    ended = FlowRun.objects.filter(pk=run.pk, attempts=run.attempts).exclude(
        status__in=FlowRun.FINISHED).update(
        status=status, message=str(message or "")[:4000], failed_step=failed_step,
        finished_at=now, lease_until=None,
        duration_ms=max(0, int((now - started).total_seconds() * 1000)))
    if not ended:
        raise LeaseLost()
    run.refresh_from_db()
    if status == Status.FAILED and (run.flow.alert_channels or []):
        from .tasks import alert_failed_run

        transaction.on_commit(lambda: _safe_delay(alert_failed_run, run.pk))
    return run


def _safe_delay(task, *args):
    try:
        task.apply_async(args=list(args), retry=False)
    except Exception:
        log.warning("could not enqueue %s%r", task.name, args, exc_info=True)


# -- context -------------------------------------------------------------------------------
def base_context(run, definition):
    data = run.input or {}
    record = data.get("record") if isinstance(data.get("record"), dict) else data
    return {
        "input": data,
        "record": record,
        "steps": {},
        "trigger": {"type": run.trigger, "event_id": run.event_id},
        "run": {"id": run.pk, "execution": run.attempts,
                "started_at": run.started_at.isoformat() if run.started_at else None},
        "flow": {"id": run.flow_id, "name": run.flow.name, "version": run.version.number,
                 "operator": definition.get("operator") or ""},
        "secrets": flow_secrets(run.flow),
        "now": timezone.now(),
    }


def flow_secrets(flow):
    try:
        value = json.loads(flow.secrets or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def scrub(value, secrets):
    """The value with every secret's text masked, for the step log and the run's message:
    strings are searched, for the secret as written and as a URL or JSON carries it (a
    query string, an error quoting the address), and a number or word equal to a secret
    becomes the mask."""
    forms = secret_forms(secrets)
    value = jsonable(value)
    if not forms:
        return value

    def walk(item):
        if isinstance(item, str):
            return mask_forms(item, forms)
        if isinstance(item, dict):
            return {key: walk(val) for key, val in item.items()}
        if isinstance(item, list):
            return [walk(val) for val in item]
        text = json.dumps(item)
        return mask(text) if text in forms else item

    return walk(value)


def jsonable(value):
    return json.loads(json.dumps(value, ensure_ascii=False, default=_default))


def _default(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# -- housekeeping --------------------------------------------------------------------------
def sweep(now=None, limit=500):
    """Enqueue runs nobody is executing: queued ones the broker never delivered and running
    ones whose worker died (lease expired). Returns how many.

    A queued run may simply be waiting in a long queue, so one enqueued here is not enqueued
    again for five grace periods (its `lease_until` says until when): a backlog does not
    multiply its messages at every sweep, and a lost message is still replaced."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.FLOW_SWEEP_GRACE_SECONDS)
    idle = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    stale = FlowRun.objects.filter(
        (Q(status=Status.QUEUED, created_at__lt=now - grace) & idle)
        | Q(status=Status.RUNNING, lease_until__lt=now)
        | Q(status=Status.RUNNING, lease_until__isnull=True, started_at__lt=now - grace),
    ).exclude(inline=True, status=Status.QUEUED, created_at__gte=now - grace - timedelta(
        seconds=60))
    ids = list(stale.order_by("id").values_list("id", flat=True)[:limit])
    FlowRun.objects.filter(pk__in=ids, status=Status.QUEUED).update(lease_until=now + 5 * grace)
    for run_id in ids:
        enqueue_run(run_id)
    return len(ids)


def prune(now=None, chunk=1000):
    """Delete finished runs older than FLOW_RUN_KEEP_DAYS, in short chunks; unfinished runs
    are never pruned."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.FLOW_RUN_KEEP_DAYS)
    old = FlowRun.objects.filter(status__in=FlowRun.FINISHED, created_at__lt=cutoff)
    # Schedule ticks only guard against a tick firing twice; old ones guard nothing.
    TriggerMark.objects.filter(key__startswith="schedule:", created_at__lt=cutoff).delete()
    deleted = 0
    while True:
        ids = list(old.order_by("id").values_list("id", flat=True)[:chunk])
        if not ids:
            return deleted
        StepRun.objects.filter(run_id__in=ids).delete()
        deleted += FlowRun.objects.filter(id__in=ids).delete()[0] if ids else 0


__all__ = ["ActionFlow", "FlowNotReady", "enqueue_run", "execute", "prune", "rerun", "run_now",
           "start", "sweep"]
