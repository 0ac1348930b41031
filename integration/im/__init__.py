"""IM providers: one module per vendor, one registry (see base.py for the contract).

`provider_for(account)` gives the provider object of an IMAccount. Built-in providers register
themselves when this package is imported.
"""
from .base import (  # noqa: F401
    GROUP,
    MESSAGE,
    REGISTRY,
    Card,
    GroupResult,
    Provider,
    ProviderError,
    SendResult,
    UnknownProvider,
    Unsupported,
    get_provider_class,
    provider_choices,
    register,
)


def provider_for(account, session=None) -> Provider:
    return get_provider_class(account.provider)(account, session)


def _discover():
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


_discover()
