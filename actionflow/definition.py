"""A flow's definition: the frozen form of its trigger and steps that runs execute, the
checks it must pass before it is saved, and publishing it as a new version.

The checks (`check_steps`) are what make a flow safe to run: every step kind exists and its
settings are well-formed, every expression parses, every `steps.<key>` reference names a step
that comes earlier, and branch arms name later steps, each owned by one arm only.
"""
import json

from django.db import transaction
from django.utils.translation import gettext as _

from .expressions import ExpressionError, references
from .steps import OTHERWISE, UnknownStep, get_step_class

TRIGGER_FIELDS = ("trigger", "workflow_id", "node_name", "moment", "before_timeout",
                  "block_on_timeout", "record_kind", "date_field", "delay_amount", "delay_unit",
                  "record_filter", "cron", "operator")
STEP_FIELDS = ("key", "name", "kind", "config", "tries", "retry_wait", "on_failure")


def step_dict(step):
    return {name: getattr(step, name) for name in STEP_FIELDS}


def build(flow, steps=None):
    """The definition of `flow` with its saved steps (or the given FlowStep objects)."""
    steps = list(flow.steps.all()) if steps is None else list(steps)
    steps.sort(key=lambda s: (s.order, s.pk or 0))
    data = {name: getattr(flow, name) for name in TRIGGER_FIELDS}
    data["workflow"] = flow.workflow.workflow_id if flow.workflow_id else ""
    data["steps"] = [step_dict(step) for step in steps]
    return data


def owners(steps):
    """{owned step key: (branch key, arm)} for every step an arm of a branch names."""
    owned = {}
    for step in steps:
        try:
            cls = get_step_class(step["kind"])
        except UnknownStep:
            continue
        for arm, keys in cls.arms(step.get("config") or {}).items():
            for key in keys:
                owned.setdefault(key, (step["key"], arm))
    return owned


def check_steps(steps):
    """Problems of a list of step dicts, as {step index: [messages]}; empty when fine."""
    problems = {}

    def add(index, message):
        problems.setdefault(index, []).append(message)

    position = {}
    for index, step in enumerate(steps):
        key = step.get("key") or ""
        if key in position:
            add(index, _("The key “%(key)s” is used by another step.") % {"key": key})
        position.setdefault(key, index)

    claimed = {}
    for index, step in enumerate(steps):
        config = step.get("config")
        try:
            cls = get_step_class(step.get("kind"))
        except UnknownStep as exc:
            add(index, str(exc))
            continue
        for field, messages in cls.check(config).items():
            add(index, f"{field}: {_flatten(messages)}")
        try:
            found = references(config if isinstance(config, (dict, list, str)) else {})
        except ExpressionError as exc:
            add(index, _("Expression error: %(error)s") % {"error": exc})
            found = []
        for location, ref in found:
            target = ref.step_key
            if ref.root != "steps":
                continue
            where = f"{location}: " if location else ""
            if not target:
                add(index, where + _("Name a step after “steps.”."))
            elif target not in position:
                add(index, where + _("There is no step “%(key)s”.") % {"key": target})
            elif position[target] == index:
                add(index, where + _("A step cannot use its own outputs (“%(key)s”).")
                    % {"key": target})
            elif position[target] > index:
                add(index, where + _("The step “%(key)s” comes later; only earlier steps' "
                                     "outputs can be used.") % {"key": target})
        if isinstance(config, dict):
            for arm, keys in cls.arms(config).items():
                label = _("otherwise") if arm == OTHERWISE else _("branch %(n)d") % {"n": arm + 1}
                for key in keys:
                    if key not in position:
                        add(index, _("%(arm)s names no step “%(key)s”.")
                            % {"arm": label, "key": key})
                    elif position[key] <= index:
                        add(index, _("%(arm)s names “%(key)s”, which does not come after this "
                                     "branch.") % {"arm": label, "key": key})
                    elif key in claimed:
                        add(index, _("“%(key)s” already belongs to another branch.")
                            % {"key": key})
                    else:
                        claimed[key] = index
    return problems


def _flatten(messages):
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in messages.items())
    if isinstance(messages, (list, tuple)):
        return "; ".join(_flatten(m) for m in messages)
    return str(messages)


def canonical(definition):
    return json.dumps(definition, sort_keys=True, ensure_ascii=False, default=str)


@transaction.atomic
def publish(flow, user=""):
    """Save a new version when the definition differs from the current one; returns the
    current version either way."""
    from .models import ActionFlow, FlowVersion

    given, flow = flow, ActionFlow.objects.select_for_update().get(pk=flow.pk)
    definition = build(flow)
    current = flow.versions.filter(number=flow.version).first()
    if current and canonical(current.definition) == canonical(definition):
        return current
    number = flow.version + 1
    version = FlowVersion.objects.create(flow=flow, number=number, definition=definition,
                                         created_by=str(user or "")[:150])
    ActionFlow.objects.filter(pk=flow.pk).update(version=number)
    given.version = number
    return version
