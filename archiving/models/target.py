"""Archive targets: where packages go. The kind (a plug-in of archiving.targets) says how, and
validates its own parameters; the one secret a kind may take (a token) is encrypted at rest."""
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from integration.secrets import EncryptedTextField, mask


class ArchiveTarget(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    # A registry key, not model choices: adding a kind is adding a module, not a migration.
    kind = models.CharField(_("kind"), max_length=40)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    secret = EncryptedTextField(
        _("token"), blank=True,
        help_text=_("Used by kinds that authenticate (HTTP: the token header's value). Stored "
                    "encrypted, never shown again."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("archive target")
        verbose_name_plural = _("archive targets")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def kind_class(self):
        from ..targets import get_kind_class

        return get_kind_class(self.kind)

    def kind_label(self):
        from ..targets import UnknownKind

        try:
            return str(self.kind_class.label)
        except UnknownKind:
            return self.kind

    def handler(self):
        """The kind's object for this target, ready to deliver or test."""
        return self.kind_class(self, dict(self.params or {}), self.secret)

    def masked_secret(self):
        return mask(self.secret) if self.secret else ""

    def clean(self):
        from ..targets import ParamsInvalid, UnknownKind

        try:
            cls = self.kind_class
        except UnknownKind as exc:
            raise ValidationError({"kind": str(exc)}) from None
        if self.secret and not cls.secret_label:
            raise ValidationError({"secret": _("This target kind takes no token.")})
        try:
            self.params = cls.validate_params(self.params, self.secret)
        except ParamsInvalid as exc:
            raise ValidationError({"params": exc.messages}) from None

    def test_connection(self):
        handler = self.handler()
        return handler.run(handler.test_connection)
