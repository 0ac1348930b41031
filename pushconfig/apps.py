from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PushconfigConfig(AppConfig):
    name = "pushconfig"
    verbose_name = _("Unified todo push")
