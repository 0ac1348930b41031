"""Secrets at rest: Fernet encryption with rotating keys, and masking for display.

A secret is stored as "fernet:<token>". The first key in FIELD_ENCRYPTION_KEYS encrypts;
all keys decrypt, so an operator rotates by prepending a new key and re-saving at leisure.
"""
import base64
import hashlib
import json
from functools import lru_cache
from urllib.parse import quote, quote_plus

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"
MASK = "••••••"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        derived = hashlib.sha256(("field-encryption:" + secret_key).encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds an invalid key: {exc}") from None


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(plain: str) -> str:
    return PREFIX + fernet().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ImproperlyConfigured("a secret column holds a value that was not encrypted")
    try:
        return fernet().decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ImproperlyConfigured(
            "a stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS (was a key removed?)"
        ) from None


def mask(plain: str) -> str:
    """Show that a secret is set without revealing it; long ones keep their last 4 characters
    so an administrator can tell two keys apart."""
    if not plain:
        return ""
    if len(plain) >= 16:
        return MASK + plain[-4:]
    return MASK


def secret_forms(secrets) -> dict:
    """Each secret of 4 characters or more as a text may carry it — as written, URL-encoded
    (a query string, an error quoting the address), inside a JSON string — mapped to its
    mask, longest first so that a secret inside another is not masked in part."""
    forms = {}
    for secret in secrets:
        if secret and len(secret) >= 4:
            for form in (secret, quote(secret, safe=""), quote_plus(secret),
                         json.dumps(secret)[1:-1]):
                forms.setdefault(form, mask(secret))
    return dict(sorted(forms.items(), key=lambda item: len(item[0]), reverse=True))


def mask_forms(text: str, forms: dict) -> str:
    for form, masked in forms.items():
        if form in text:
            text = text.replace(form, masked)
    return text


class EncryptedTextField(models.TextField):
    """A text column whose value is encrypted at rest. Python code sees plain text;
    the database only ever sees the Fernet token. Not searchable, by design."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        # Not TextField's, which goes through to_python: that decrypts a fixture's token, and a
        # value typed to look like one must be stored as typed, not decrypted (it would hand
        # another row's secret to whoever could edit this one).
        value = models.Field.get_prep_value(self, value)
        if value is None or value == "":
            return value
        return encrypt(str(value))

    def clean(self, value, model_instance):
        # full_clean: validated as typed, for the same reason (see get_prep_value)
        self.validate(value, model_instance)
        self.run_validators(value)
        return value

    def value_to_string(self, obj):
        # What serializers write (dumpdata, fixtures): the token, as stored, not the secret
        value = self.value_from_object(obj)
        return encrypt(value) if value else value

    def to_python(self, value):
        # Reached from a deserializer only (loaddata): its tokens become the secrets again.
        # One these keys cannot decrypt fails the load, naming the cause.
        if isinstance(value, str) and value.startswith(PREFIX):
            return decrypt(value)
        return super().to_python(value)
