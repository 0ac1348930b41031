from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ArchivingConfig(AppConfig):
    name = "archiving"
    verbose_name = _("Archive integration")
