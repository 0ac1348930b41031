"""API tokens: the key is shown once, when issued; the database keeps only its SHA-256 digest
and its first characters, to recognise it by. A key is 160 random bits, so a fast unsalted
hash is enough: nothing can be guessed, and the digest can be looked up by an index."""
import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PREFIX_LENGTH = 8
# Recording every use would cost a busy client one write per request; this precision is
# enough to tell a token in use from a forgotten one.
LAST_USED_PRECISION = timedelta(minutes=5)


def new_key() -> str:
    return secrets.token_hex(20)  # 40 hex characters, as DRF's own tokens


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiTokenManager(models.Manager):
    def issue(self, user, name, key=None):
        """A new token and its key, the only time the key is at hand. `key` is for clients
        that already hold one (migrated tokens, test fixtures); normally it is drawn here."""
        token = self.model(user=user, name=name)
        key = token.set_key(key)
        token.save(force_insert=True)
        return token, key

    def by_key(self, key):
        return self.select_related("user").get(digest=digest_of(key))


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens", verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100,
                            help_text=_("What the token is for, e.g. the system that uses it."))
    prefix = models.CharField(_("prefix"), max_length=PREFIX_LENGTH, editable=False)
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    # Not auto_now_add: migrated tokens keep the time they were created.
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True,
                                        editable=False)

    objects = ApiTokenManager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.masked_prefix})"

    @property
    def masked_prefix(self):
        return f"{self.prefix}…"

    def set_key(self, key=None):
        key = key or new_key()
        self.prefix, self.digest = key[:PREFIX_LENGTH], digest_of(key)
        return key

    def record_use(self, now=None):
        """Note that the token was used, at most once per LAST_USED_PRECISION. A recent use
        known from the row already loaded costs no query; otherwise one conditional UPDATE,
        so concurrent requests of one client write it once between them."""
        now = now or timezone.now()
        stale = now - LAST_USED_PRECISION
        if self.last_used_at is not None and self.last_used_at > stale:
            return False
        written = type(self).objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=self.pk,
        ).update(last_used_at=now)
        if written:
            self.last_used_at = now
        return bool(written)
