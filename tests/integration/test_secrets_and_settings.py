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


@pytest.mark.django_db
def test_a_dump_holds_secrets_encrypted_and_loads_them_back(tmp_path):
    from django.core.management import call_command

    from integration.models import SmsGateway

    SmsGateway.objects.create(name="sms", url="http://127.0.0.1:9/send", token="Bearer s3cr3t-x")
    dump = tmp_path / "dump.json"
    call_command("dumpdata", "integration.SmsGateway", output=str(dump))
    text = dump.read_text()
    assert "s3cr3t" not in text and '"token": "fernet:' in text
    SmsGateway.objects.all().delete()
    call_command("loaddata", str(dump), verbosity=0)
    assert SmsGateway.objects.get().token == "Bearer s3cr3t-x"


@pytest.mark.django_db
def test_a_value_typed_to_look_like_a_stored_token_is_kept_as_typed():
    from integration.models import SmsGateway

    other = secrets.encrypt("another-rows-secret")
    gateway = SmsGateway(name="sms", url="http://127.0.0.1:9/send", token=other,
                         token_header="Authorization")
    gateway.full_clean()
    gateway.save()
    gateway.refresh_from_db()
    assert gateway.token == other and "another-rows-secret" not in gateway.token
    SmsGateway.objects.filter(pk=gateway.pk).update(token=other)
    assert SmsGateway.objects.get().token == other


@pytest.mark.django_db
def test_a_dump_made_with_other_keys_fails_to_load_naming_the_cause(tmp_path, settings):
    from django.core.management import call_command

    from integration.models import SmsGateway

    SmsGateway.objects.create(name="sms", url="http://127.0.0.1:9/send", token="Bearer s3cr3t-x")
    dump = tmp_path / "dump.json"
    call_command("dumpdata", "integration.SmsGateway", output=str(dump))
    SmsGateway.objects.all().delete()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(Exception, match="cannot be decrypted"):
        call_command("loaddata", str(dump), verbosity=0)
