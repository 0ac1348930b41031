"""Settings of every benchmark process: the console's own settings, plus the `bench` app (the
plain one-task-per-push baseline) and, when installed, `django_webhook` (the package a Django
team would otherwise pick), wired to InboundEvent rows the way its README shows."""
from config.settings import *  # noqa: F401,F403
from config.settings import ALLOWED_HOSTS, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # the admin scenario's in-process client

try:
    import django_webhook  # noqa: F401
except ImportError:  # the comparison then says "not installed"
    pass
else:
    INSTALLED_APPS.append("django_webhook")
    DJANGO_WEBHOOK = {"MODELS": ["integration.InboundEvent"]}  # defaults otherwise
