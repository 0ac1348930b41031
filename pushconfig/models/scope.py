"""Decentralised administration (分权): an administrator scoped to one organization.

When settings.DECENTRALISED_ADMIN is on, a staff user with an AdminScope sees and edits only
the push configs (and their push log) of that organization, in the admin and the API alike.
Superusers, and staff without a scope, see everything. With the setting off, scopes are kept
but ignored.
"""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AdminScope(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("user"),
                                on_delete=models.CASCADE, related_name="push_scope")
    organization = models.ForeignKey(
        "integration.Subcompany", verbose_name=_("organization"), on_delete=models.CASCADE,
        related_name="admin_scopes",
        help_text=_("The administrator sees and edits only the push configs of this "
                    "organization (when decentralised administration is on)."),
    )

    class Meta:
        verbose_name = _("administrator scope")
        verbose_name_plural = _("administrator scopes")

    def __str__(self):
        return f"{self.user} → {self.organization}"


def scoped_organization(user):
    """The organization a user is confined to, or None when they see everything."""
    if not settings.DECENTRALISED_ADMIN or not user or not user.is_authenticated:
        return None
    if user.is_superuser:
        return None
    scope = AdminScope.objects.filter(user=user).select_related("organization").first()
    return scope.organization if scope else None


def restrict(queryset, user, path="organization"):
    """`queryset` narrowed to what `user` may see; `path` leads from its model to the
    config's organization (e.g. "config__organization" for push records)."""
    organization = scoped_organization(user)
    if organization is None:
        return queryset
    return queryset.filter(**{path: organization})
