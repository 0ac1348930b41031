"""Notification channels (email, IM, cloud bridge, SMS): one module per channel, one registry
(see base.py for the contract). Failure alerts of push configs send through them.

`get_channel(key)` gives a channel ready to send; `channel_choices()` the registered ones
for forms; `validate_channel_keys(value)` is the one check of a list of channel keys."""
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .base import (  # noqa: F401
    REGISTRY,
    Channel,
    ChannelError,
    ChannelResult,
    UnknownChannel,
    channel_choices,
    get_channel,
    register,
)


def validate_channel_keys(value):
    """A list of registered channel keys, each once; returns it without repeats."""
    if not isinstance(value, list | tuple) or not all(isinstance(k, str) for k in value):
        raise ValidationError(_("Send a list of channel keys."), code="invalid")
    unknown = [k for k in value if k not in REGISTRY]
    if unknown:
        raise ValidationError(
            _("Not registered alert channels: %(unknown)s. Use: %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(REGISTRY)}, code="invalid")
    return list(dict.fromkeys(value))


def _discover():
    """Import every module of this package: each channel registers itself. The seed's order
    (IM, cloud bridge, email, SMS) comes first, so forms list them so."""
    import importlib
    import pkgutil

    names = [m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"]
    first = ["im", "cloud_bridge", "email", "sms"]
    for name in [n for n in first if n in names] + [n for n in names if n not in first]:
        importlib.import_module(f"{__name__}.{name}")


_discover()
