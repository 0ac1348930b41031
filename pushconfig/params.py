"""A push config's parameters, validated in one place for the admin form and the API.

Each push type declares its parameters as a DRF serializer (`Transport.Params`). This module
runs that serializer, names the offending parameter in each message, and handles secrets the
same way on both surfaces: a secret left blank (or sent back masked, as the API shows it)
on an edit keeps the stored value, as long as the push type stays the same.
"""
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from rest_framework import serializers

from integration.secrets import MASK

from .transports import CUSTOM, UnknownTransport, get_transport_class


class ParamsInvalid(ValidationError):
    """Parameters refused by their push type. `errors` maps each parameter (or
    "non_field_errors") to its messages; as a Django ValidationError it reads
    {"params": ["name: message", ...]}."""

    def __init__(self, errors):
        self.errors = {field: [str(m) for m in messages] for field, messages in errors.items()}
        flat = [f"{field}: {message}" for field, messages in self.errors.items()
                for message in messages]
        super().__init__({"params": flat})


def transport_class(push_type, implementation=""):
    """The registered class of a push type, or a ValidationError naming the field at fault."""
    try:
        return get_transport_class(push_type, implementation or "")
    except UnknownTransport as exc:
        field = "implementation" if push_type == CUSTOM else "push_type"
        raise ValidationError({field: str(exc)}) from None


def stored_class(instance):
    """The push type class a saved config had, or None (new config, or type not registered)."""
    if instance is None or instance.pk is None:
        return None
    try:
        return get_transport_class(instance.push_type, instance.implementation)
    except UnknownTransport:
        return None


def is_kept(value):
    """A secret's value that means "keep the stored one": blank, or the mask shown for it."""
    return value in (None, "") or (isinstance(value, str) and value.startswith(MASK))


def validate_params(push_type, implementation, data, instance=None):
    """Validate `data` against the push type's parameter schema.

    `instance` is the config as stored before this edit (None when creating). Returns the
    cleaned parameters, with "" for each secret that keeps its stored value, ready for
    `store_params`. Raises ValidationError naming `push_type` / `implementation` for an
    unknown type, ParamsInvalid naming each refused parameter otherwise.
    """
    cls = transport_class(push_type, implementation)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsInvalid({"non_field_errors": [_("Send the parameters as an object.")]})
    schema = cls.Params()
    unknown = sorted(set(data) - set(schema.fields))
    if unknown:
        raise ParamsInvalid({name: [_("This push type has no such parameter.")]
                             for name in unknown})

    kept = set()
    data = dict(data)
    stored = {}
    if stored_class(instance) is cls:
        stored = instance.get_params()
    for name in cls.secret_params:
        if is_kept(data.get(name)):
            if stored.get(name):
                data[name] = stored[name]  # validated as it stands, then left untouched
                kept.add(name)
            else:
                data.pop(name, None)
    serializer = cls.Params(data=data)
    if not serializer.is_valid():
        raise ParamsInvalid(_flatten(serializer.errors))
    cleaned = dict(serializer.validated_data)
    for name in kept:
        cleaned[name] = ""
    return cleaned


def store_params(config, cleaned, previous_class=None):
    """Write cleaned parameters into `config` (not saved). `previous_class` is the push type
    the config had before the edit: when it changes, nothing of the old parameters is kept,
    so a secret of one type never carries over into another."""
    if previous_class is not config.transport_class:
        config.params = {}
    config.set_params(cleaned)


def params_schema(cls):
    """The parameters of a push type as data: name, label, type, required, secret, help."""
    secret = set(cls.secret_params)
    result = []
    for name, field in cls.Params().fields.items():
        entry = {
            "name": name,
            "label": str(field.label or name),
            "type": _field_type(field),
            "required": bool(field.required),
            "secret": name in secret,
            "help_text": str(field.help_text or ""),
        }
        if isinstance(field, serializers.ChoiceField):
            entry["choices"] = [{"value": value, "label": str(label)}
                                for value, label in field.choices.items()]
        if field.default is not serializers.empty and not callable(field.default):
            entry["default"] = field.default
        if getattr(field, "max_length", None):
            entry["max_length"] = field.max_length
        result.append(entry)
    return result


def _field_type(field):
    for kind, name in ((serializers.BooleanField, "boolean"), (serializers.IntegerField, "integer"),
                       (serializers.MultipleChoiceField, "multiple_choice"),
                       (serializers.ChoiceField, "choice"), (serializers.URLField, "url"),
                       (serializers.CharField, "string"), (serializers.ListField, "list"),
                       (serializers.DictField, "object")):
        if isinstance(field, kind):
            return name
    return "string"


def _flatten(errors):
    """DRF's error tree as {parameter: [message]}; nested errors are joined into text."""
    result = {}
    for name, messages in errors.items():
        if isinstance(messages, dict):
            messages = [f"{key}: {' '.join(value)}" for key, value in _flatten(messages).items()]
        elif not isinstance(messages, list):
            messages = [messages]
        result[name] = [str(m) for m in messages]
    return result
