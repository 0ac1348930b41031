"""Push types: one module per target, one registry.

`register` adds a Transport subclass under its `key`. Built-in types are registered when this
package is imported; a custom class registers with `custom = True` and is chosen with push type
"custom" and its key as the implementation. Nothing is ever imported from a path typed into a
form: only registered classes can be chosen.
"""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .base import Delivery, PushItem, Transport, TransportError

REGISTRY: dict[str, type[Transport]] = {}
CUSTOM = "custom"


class UnknownTransport(LookupError):
    pass


def register(cls):
    if not cls.key or cls.key in REGISTRY or cls.key == CUSTOM:
        raise ValueError(f"push type key {cls.key!r} is empty or taken")
    REGISTRY[cls.key] = cls
    return cls


def get_transport_class(push_type, implementation=""):
    if push_type == CUSTOM:
        cls = REGISTRY.get(implementation)
        if cls is None or not cls.custom:
            raise UnknownTransport(
                _("“%(name)s” is not a registered custom push class.") % {"name": implementation})
        return cls
    cls = REGISTRY.get(push_type)
    if cls is None or cls.custom:
        raise UnknownTransport(_("“%(name)s” is not a push type.") % {"name": push_type})
    return cls


def push_type_choices():
    choices = [(key, cls.label) for key, cls in REGISTRY.items() if not cls.custom]
    return choices + [(CUSTOM, gettext_lazy("Custom"))]


def custom_choices():
    return [(key, cls.label) for key, cls in REGISTRY.items() if cls.custom]


def _discover():
    """Import every module of this package: each built-in push type registers itself."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


_discover()

__all__ = ["CUSTOM", "Delivery", "PushItem", "REGISTRY", "Transport", "TransportError",
           "UnknownTransport", "custom_choices", "get_transport_class", "push_type_choices",
           "register"]
