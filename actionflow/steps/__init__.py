"""Step kinds of action flows: one module per kind (or family), one registry (base.py)."""
from .base import (  # noqa: F401
    OTHERWISE,
    REGISTRY,
    Runtime,
    Step,
    StepFailed,
    StepResult,
    UnknownStep,
    get_step_class,
    register,
    step_choices,
)


def _discover():
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


_discover()
