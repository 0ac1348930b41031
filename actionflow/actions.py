"""Built-in serverless Actions (内置 serverless/Action) and their registry.

An Action is a function of the console addressed by group and version, like the seed's
`intias_wf` 1.0 (seeds 000): it declares its input and output parameters, and an action
step of a flow (or `POST /api/v1/actions/<group>/<version>/invoke`) runs it with inputs
mapped from the flow's data.

A subclass provides `group`, `version`, `label`, `inputs` and `outputs` (tuples of Param) and
`run(inputs, context) -> dict` of outputs. Bad or missing inputs are an answer, not an
exception: by convention an Action answers `status` false with a `msg` naming the input.
`run` raises ActionError only for trouble retrying can cure (`transient=True`: a target
timing out) or that the Action cannot express in its outputs.
"""
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

TEXT, BOOLEAN, NUMBER, JSON = "text", "boolean", "number", "json"
PARAM_TYPES = {TEXT: gettext_lazy("text"), BOOLEAN: gettext_lazy("boolean"),
               NUMBER: gettext_lazy("number"), JSON: gettext_lazy("JSON")}


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    type: str = TEXT
    required: bool = False
    help: str = ""

    def as_dict(self):
        return {"name": self.name, "label": str(self.label), "type": self.type,
                "required": self.required, "help": str(self.help)}


@dataclass
class ActionContext:
    """Who is calling: the run and flow when a flow step calls, the user over REST."""

    source: str = "flow"          # "flow" | "api"
    run_id: int | None = None
    flow_id: int | None = None
    operator: str = ""
    # time.monotonic() by which the caller needs the answer ("before" flows), or None: an
    # Action should bound its own waits (timeouts, retries) by it.
    deadline: float | None = None
    extra: dict = field(default_factory=dict)


class ActionError(Exception):
    def __init__(self, reason, transient=False):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class Action:
    group = ""
    version = ""
    label = ""
    description = ""
    inputs: tuple = ()
    outputs: tuple = ()

    def run(self, inputs: dict, context: ActionContext) -> dict:
        raise TypeError(f"{type(self).__name__} must implement run()")

    @classmethod
    def describe(cls):
        return {"group": cls.group, "version": cls.version, "label": str(cls.label),
                "description": str(cls.description),
                "inputs": [p.as_dict() for p in cls.inputs],
                "outputs": [p.as_dict() for p in cls.outputs]}


REGISTRY: dict[tuple[str, str], type[Action]] = {}


class UnknownAction(LookupError):
    pass


def register(cls):
    key = (cls.group, cls.version)
    if not cls.group or not cls.version or key in REGISTRY:
        raise ValueError(f"serverless Action {key!r} is incomplete or taken")
    REGISTRY[key] = cls
    return cls


def get_action(group, version) -> type[Action]:
    try:
        return REGISTRY[(str(group).strip(), str(version).strip())]
    except KeyError:
        raise UnknownAction(_("There is no built-in Action “%(group)s” version “%(version)s”.")
                            % {"group": group, "version": version}) from None


def action_choices():
    return [(f"{g}@{v}", f"{cls.label} ({g} {v})") for (g, v), cls in sorted(REGISTRY.items())]
