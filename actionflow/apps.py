from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActionflowConfig(AppConfig):
    name = "actionflow"
    verbose_name = _("Action flows")
