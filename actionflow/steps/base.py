"""The base of every step kind of an action flow, and its registry.

A step kind provides:
- `kind` (stored in FlowStep.kind), `label`, `example` (a settings example the admin shows);
- `Config`, a DRF serializer of its settings, checked when the flow is saved. String values
  may hold expressions (actionflow.expressions); they are checked by the flow's definition
  check, not by the serializer, so `Config` sees them as text;
- `run(settings, runtime) -> StepResult`, given the settings with every expression already
  evaluated (that is also what the step log records as the step's input).
A step that cannot do its work raises StepFailed; `transient=True` says a later try may succeed
(a timeout, a 5xx answer), and the engine retries it as the step's settings allow.
Branch steps also name the steps each arm owns (`arms()`), which run only when that arm is
chosen.
"""
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from rest_framework import serializers

from integration.http import without_credentials


class StepFailed(Exception):
    def __init__(self, reason, transient=False, output=None):
        reason = without_credentials(reason)  # it names the address: the run log shows it
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.output = output or {}


@dataclass
class StepResult:
    output: dict = field(default_factory=dict)
    # Output step: ("success" | "failed", message) ends the run.
    finish: tuple | None = None
    # Branch step: the arm chosen (its index, or OTHERWISE).
    arm: object = None


OTHERWISE = "otherwise"


@dataclass
class Runtime:
    """What a step may know about the run executing it."""

    run: object                      # FlowRun
    flow: object                     # ActionFlow
    operator: str = ""
    deadline: float | None = None    # time.monotonic() value; None: no limit
    context: dict = field(default_factory=dict)
    step_key: str = ""               # the step being executed

    def remaining(self, default):
        """Seconds a blocking call may take: `default`, or less when the run has a deadline."""
        import time

        if self.deadline is None:
            return default
        return max(0.5, min(default, self.deadline - time.monotonic()))


class NoConfig(serializers.Serializer):
    pass


class Step:
    kind = ""
    label = ""
    description = ""
    example: dict = {}
    Config = NoConfig

    def run(self, settings: dict, runtime: Runtime) -> StepResult:
        raise TypeError(f"{type(self).__name__} must implement run()")

    @classmethod
    def check(cls, config) -> dict:
        """Field → messages for settings this kind cannot work with; empty when fine."""
        serializer = cls.Config(data=config if isinstance(config, dict) else {})
        if not isinstance(config, dict):
            return {"config": [_("Settings must be a JSON object.")]}
        if serializer.is_valid():
            return {}
        return serializer.errors

    @classmethod
    def arms(cls, config) -> dict:
        """Branch kinds: {arm: [step keys]}; other kinds own no steps."""
        return {}


REGISTRY: dict[str, type[Step]] = {}


class UnknownStep(LookupError):
    pass


def register(cls):
    if not cls.kind or cls.kind in REGISTRY:
        raise ValueError(f"step kind {cls.kind!r} is empty or taken")
    REGISTRY[cls.kind] = cls
    return cls


def get_step_class(kind) -> type[Step]:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise UnknownStep(_("“%(kind)s” is not a step kind.") % {"kind": kind}) from None


def step_choices():
    return [(kind, cls.label) for kind, cls in REGISTRY.items()]
