"""The base of every archive target kind, and its registry.

A target kind hands an archive package (archiving.package.Package) to one kind of archive
system and turns the outcome into a `Delivery`: success, or a failure that says whether
retrying can help (`permanent`). A subclass must provide:
- `key` (stored in ArchiveTarget.kind), `label`;
- `Params`, a DRF serializer of its parameters, used by the admin form and the API alike;
- `secret_label` when the kind takes one secret (a token, a password: stored encrypted in
  ArchiveTarget.secret, masked everywhere), empty when it takes none;
- optionally `check(params, secret)`: rules across parameters and the secret, {name: message};
- `deliver(package, idempotency_key)` and `test_connection()`, each returning a Delivery or raising
  TargetError; `run()` wraps either so that callers only ever see a Delivery.
"""
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from rest_framework import serializers

from integration.events import check_json
from integration.http import without_credentials

ANSWER_LIMIT = 4000


def trim(text, limit=ANSWER_LIMIT):
    text = text or ""
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass
class Delivery:
    ok: bool
    message: str = ""
    permanent: bool = False
    answer: str = ""          # what the archive system said (trimmed), or where the file went
    location: str = ""        # the stored package's path or the URL it went to
    http_status: int | None = None
    duration_ms: int | None = None


class TargetError(Exception):
    """A failed hand-over. `permanent` says retrying cannot help (refused credentials, a
    refused package, a misconfigured path); otherwise it is transient (timeout, refused
    connection, HTTP 5xx, 408 and 429, a full disk)."""

    def __init__(self, reason, permanent=False, http_status=None, answer=""):
        reason = without_credentials(reason)  # it names the address: the log shows it
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.http_status = http_status
        self.answer = answer


class NoParams(serializers.Serializer):
    pass


class ParamsInvalid(ValidationError):
    """Parameters refused by their kind: `errors` maps each parameter (or "non_field_errors")
    to its messages; as a Django ValidationError it reads {"params": ["name: message"]}."""

    def __init__(self, errors):
        self.errors = {name: [str(m) for m in messages] for name, messages in errors.items()}
        super().__init__({"params": [f"{name}: {message}" for name, messages in
                                     self.errors.items() for message in messages]})


class TargetKind:
    key = ""
    label = ""
    description = ""
    Params = NoParams
    secret_label = ""
    secret_help = ""

    def __init__(self, target, params, secret=""):
        self.target = target
        self.params = params
        self.secret = secret or ""

    # -- what subclasses implement ---------------------------------------------------------
    @classmethod
    def check(cls, params, secret) -> dict:
        return {}

    def deliver(self, package, idempotency_key="") -> Delivery:
        """Hand the package over. `idempotency_key` stays the same across retries of one
        export, for kinds whose target can drop a repeat."""
        raise TypeError(f"{type(self).__name__} must implement deliver()")

    def test_connection(self) -> Delivery:
        raise TypeError(f"{type(self).__name__} must implement test_connection()")

    # -- shared machinery ------------------------------------------------------------------
    @classmethod
    def validate_params(cls, data, secret=""):
        """Cleaned parameters, or ParamsInvalid naming each refused parameter."""
        if data in (None, ""):
            data = {}
        if not isinstance(data, dict):
            raise ParamsInvalid({"non_field_errors": [_("Send the parameters as an object.")]})
        fields = cls.Params().fields
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ParamsInvalid({name: [_("This target kind has no such parameter.")]
                                 for name in unknown})
        # PostgreSQL refuses NUL characters and lone surrogates: a 400 naming the parameter,
        # not a 500 when the row is saved.
        bad = {}
        for name, value in data.items():
            try:
                check_json(value)
            except serializers.ValidationError as exc:
                bad[name] = [str(m) for m in exc.detail]
        if bad:
            raise ParamsInvalid(bad)
        serializer = cls.Params(data=data)
        if not serializer.is_valid():
            raise ParamsInvalid(_flatten(serializer.errors))
        cleaned = dict(serializer.validated_data)
        errors = cls.check(cleaned, secret)
        if errors:
            raise ParamsInvalid({k: v if isinstance(v, list) else [v] for k, v in errors.items()})
        return cleaned

    def run(self, call) -> Delivery:
        """Run deliver or test_connection, timing it; a TargetError becomes a failed Delivery."""
        started = time.monotonic()
        try:
            result = call()
        except TargetError as exc:
            result = Delivery(False, exc.reason, exc.permanent, trim(exc.answer),
                              http_status=exc.http_status)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        result.answer = trim(result.answer)
        return result


def _flatten(errors):
    result = {}
    for name, messages in errors.items():
        if isinstance(messages, dict):
            messages = [f"{key}: {' '.join(map(str, value))}"
                        for key, value in _flatten(messages).items()]
        elif not isinstance(messages, list):
            messages = [messages]
        result[name] = [str(m) for m in messages]
    return result


REGISTRY: dict[str, type[TargetKind]] = {}


class UnknownKind(LookupError):
    pass


def register(cls):
    if not cls.key or cls.key in REGISTRY:
        raise ValueError(f"archive target kind {cls.key!r} is empty or taken")
    REGISTRY[cls.key] = cls
    return cls


def get_kind_class(key) -> type[TargetKind]:
    cls = REGISTRY.get(key)
    if cls is None:
        raise UnknownKind(_("“%(name)s” is not an archive target kind.") % {"name": key})
    return cls


def kind_choices():
    return [(key, cls.label) for key, cls in REGISTRY.items()]
