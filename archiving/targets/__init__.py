"""Archive target kinds: one module per kind, one registry (see base.py for the contract).

Built-in kinds (`http`, `directory`) register themselves when this package is imported;
another kind is one more module here with its tests. Only registered kinds can be chosen.
"""
from .base import (  # noqa: F401
    REGISTRY,
    Delivery,
    ParamsInvalid,
    TargetError,
    TargetKind,
    UnknownKind,
    get_kind_class,
    kind_choices,
    register,
)


def _discover():
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


_discover()
