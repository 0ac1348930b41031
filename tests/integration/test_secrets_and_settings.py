"""Secrets at rest and strict settings."""
import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config import env
from integration import secrets


def test_it_round_trips_a_secret_and_never_stores_it_in_clear():
    token = secrets.encrypt("s3cr3t-令牌")
    assert token.startswith("fernet:") and "s3cr3t" not in token
    assert secrets.decrypt(token) == "s3cr3t-令牌"


def test_it_decrypts_with_an_older_key_after_rotation(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    stored = secrets.encrypt("token")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert secrets.decrypt(stored) == "token"
    settings.FIELD_ENCRYPTION_KEYS = [new]
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        secrets.decrypt(stored)


def test_it_refuses_an_invalid_encryption_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        secrets.encrypt("x")


def test_it_masks_secrets_keeping_at_most_the_last_four_characters():
    assert secrets.mask("") == ""
    assert secrets.mask("short") == secrets.MASK
    assert secrets.mask("abcdefghijklmnop1234") == secrets.MASK + "1234"


@pytest.mark.parametrize("raw, expected", [("1", True), ("yes", True), ("OFF", False), ("", False)])
def test_it_parses_booleans_strictly(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env.env_bool("SOME_FLAG", False) is expected


@pytest.mark.parametrize("name, raw, parse", [
    ("FLAG", "ture", lambda: env.env_bool("FLAG")),
    ("NUM", "ten", lambda: env.env_int("NUM", 1)),
    ("NUM", "0", lambda: env.env_int("NUM", 1, minimum=1)),
    ("LANG", "fr", lambda: env.env_choice("LANG", "en", {"en", "zh-hans"})),
])
def test_it_stops_at_start_up_on_a_malformed_setting_naming_it(monkeypatch, name, raw, parse):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ImproperlyConfigured, match=name):
        parse()
