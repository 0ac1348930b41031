from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationConfig(AppConfig):
    name = "integration"
    verbose_name = _("Integration source")

    def ready(self):
        from . import lookups  # noqa: F401  registers `__any_of` on every field
