"""Validation of inbound events, field by field. The same serializers serve the REST inbox,
the task callbacks and replays, so an event is judged the same way whichever door it used."""
import datetime as dt
import math

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from .vocabulary import (
    BUSINESS_STATUSES_BY_DATA_SET,
    DEFAULT_BUSINESS_STATUS,
    BusinessStatus,
    DataSet,
    Moment,
    RequestStatus,
)

# Events older than this or far in the future are almost certainly a unit mistake
# (seconds sent as milliseconds, or the reverse).
_EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
_LATEST_AHEAD = dt.timedelta(days=366)
_MAX_JSON_DEPTH = 32


@extend_schema_field({"oneOf": [
    {"type": "string", "format": "date-time"},
    {"type": "integer", "description": "epoch milliseconds"},
]})
class EventTimeField(serializers.Field):
    """A timestamp as ISO 8601 text (naive means the console's time zone) or as epoch
    milliseconds (a number or a string of digits, as the OA and the low-code platform send)."""

    default_error_messages = {
        "invalid": _("Not a timestamp: use ISO 8601 (2024-05-01T09:30:00+08:00) or epoch milliseconds."),
        "range": _("Timestamp out of range: it must lie between 2000-01-01 and one year from now."),
    }

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int | float) or (isinstance(data, str) and data.isdigit()):
            try:
                value = dt.datetime.fromtimestamp(int(data) / 1000, tz=dt.timezone.utc)
            except (OverflowError, OSError, ValueError):
                self.fail("range")
        elif isinstance(data, str):
            try:
                value = dt.datetime.fromisoformat(data.strip())
            except ValueError:
                self.fail("invalid")
            if timezone.is_naive(value):
                value = timezone.make_aware(value)
        else:
            self.fail("invalid")
        if value < _EARLIEST or value > timezone.now() + _LATEST_AHEAD:
            self.fail("range")
        return value

    def to_representation(self, value):
        return value.isoformat()


def check_text(value):
    """PostgreSQL refuses NUL characters and lone UTF-16 surrogates (valid in JSON text as
    "\\ud800", invalid in UTF-8): refused here, they become a 400 naming the field."""
    if "\x00" in value:
        raise serializers.ValidationError(_("Null characters are not allowed."))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise serializers.ValidationError(_("Text holds an unpaired surrogate character.")) from None
    return value


def check_json(value, depth=0):
    """Text rules of check_text everywhere in a JSON value, and no absurd nesting."""
    if depth > _MAX_JSON_DEPTH:
        raise serializers.ValidationError(_("Nested too deeply."))
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key)
            check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        # 1e400 parses as inf; PostgreSQL's jsonb refuses it, which would fail the whole call
        raise serializers.ValidationError(_("Numbers must be finite: no NaN or Infinity."))
    return value


def refusal(check, value) -> list[str]:
    """What check_text or check_json says of `value`, as plain messages for a Django form or
    model (which cannot take DRF's ValidationError); empty when it passes."""
    try:
        check(value)
    except serializers.ValidationError as exc:
        return [str(message) for message in exc.detail]
    return []


def fits_utc(moment) -> bool:
    """Whether the moment has a UTC equivalent: SQLite is sent moments in UTC, where year 1
    east of Greenwich (or 9999 west of it) is no year, and the query fails (a 500)."""
    try:
        moment.astimezone(dt.timezone.utc)
    except OverflowError:
        return False
    return True


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of quietly turning them into text:
    an id sent as 12 where "12" was meant is usually fine, but True is never a login id."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        return check_text(super().to_internal_value(data))


def _char(max_length, required=True, **kwargs):
    if not required:
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("default", "")
    return StrictCharField(max_length=max_length, required=required, **kwargs)


class TodoEventSerializer(serializers.Serializer):
    event_id = _char(128)
    data_set = serializers.ChoiceField(choices=DataSet.choices)
    business_status = serializers.ChoiceField(choices=BusinessStatus.choices, required=False)
    request_id = _char(64)
    request_title = _char(500, required=False)
    workflow_id = _char(64, required=False)
    node_name = _char(200, required=False)
    creator = _char(64, required=False)
    receiver = _char(64)
    identity = _char(64, required=False)
    task_id = _char(64, required=False)
    created_at = EventTimeField(required=False)
    occurred_at = EventTimeField()
    viewed = serializers.BooleanField(required=False, default=False)

    # A todo must say what it is and who asked, or no target system can show it.
    REQUIRED_FOR_TODO = ("request_title", "workflow_id", "creator", "node_name")

    def validate(self, attrs):
        data_set = attrs["data_set"]
        status = attrs.get("business_status")
        if status is None:
            attrs["business_status"] = DEFAULT_BUSINESS_STATUS[data_set]
        elif status not in BUSINESS_STATUSES_BY_DATA_SET[data_set]:
            allowed = ", ".join(BUSINESS_STATUSES_BY_DATA_SET[data_set])
            raise serializers.ValidationError({
                "business_status": _("“%(status)s” is not a business status of the %(data_set)s "
                                     "data set; use one of: %(allowed)s.")
                % {"status": status, "data_set": data_set, "allowed": allowed}
            })
        if data_set == DataSet.TODO:
            missing = {f: _("Required for the todo data set.")
                       for f in self.REQUIRED_FOR_TODO if not attrs.get(f)}
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class SignOpinionSerializer(serializers.Serializer):
    node_name = _char(200)
    operator = _char(64)
    opinion = _char(4000, required=False, trim_whitespace=False)
    action = _char(32, required=False)
    signed_at = EventTimeField()

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        value["signed_at"] = value["signed_at"].isoformat()
        return value


class WorkflowEventSerializer(serializers.Serializer):
    event_id = _char(128)
    moment = serializers.ChoiceField(choices=Moment.choices)
    request_id = _char(64)
    request_title = _char(500, required=False)
    workflow_id = _char(64)
    node_id = _char(64, required=False)
    node_name = _char(200)
    operator = _char(64, required=False)
    creator = _char(64, required=False)
    status = serializers.ChoiceField(choices=RequestStatus.choices, required=False)
    form_data = serializers.DictField(required=False, validators=[check_json])
    sign_opinions = SignOpinionSerializer(many=True, required=False, max_length=5000)
    created_at = EventTimeField(required=False)
    occurred_at = EventTimeField()


def validate_batch(serializer_class, items):
    """Validate each item on its own. Returns (valid, errors) where valid is a list of
    (index, data) and errors a list of (index, event_id or None, field errors)."""
    # One serializer for the whole call: DRF deep-copies every declared field each time a
    # serializer is built, which cost more than the validation itself (a third of an ingest
    # call's time at 1000 events). Validation keeps no state on the instance, so
    # run_validation per item gives what is_valid() on a fresh instance gives.
    serializer = serializer_class()
    checks = _plain_checks(serializer)
    valid, errors = [], []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append((index, None, {"non_field_errors": [_("Each event must be a JSON object.")]}))
            continue
        data = _plain_validation(serializer, checks, item) if checks else None
        if data is not None:
            valid.append((index, data))
            continue
        try:
            data = serializer.run_validation(item)
        except serializers.ValidationError as exc:
            event_id = item.get("event_id") if isinstance(item.get("event_id"), str) else None
            errors.append((index, event_id, exc.detail))
        else:
            valid.append((index, data))
    return valid, errors


# The plain path: an event whose every field is of the ordinary shape (text as text, a known
# choice, a boolean as a boolean) is checked by plain functions built once from the
# serializer's own fields — the same rules, a fifth of DRF's cost per field. Anything else
# (a refusal, a number for a text, a missing required field) goes through DRF, so refusals
# and their messages are always DRF's own.
_SLOW, _SKIP = object(), object()


def _plain_checks(serializer):
    """[(field name, check)] for the serializer's fields, or None when one of its fields or
    validators has no plain check (then DRF validates everything)."""
    if serializer.validators:
        return None
    checks = []
    for field in serializer._writable_fields:
        check = _plain_check(field)
        if (check is None or hasattr(serializer, "validate_" + field.field_name)
                or field.source_attrs != [field.field_name]):
            return None
        checks.append((field.field_name, check))
    return checks


def _plain_validation(serializer, checks, item):
    """The validated data of `item`, or None when DRF must judge it."""
    data = {}
    for name, check in checks:
        value = check(item.get(name, empty))
        if value is _SLOW:
            return None
        if value is not _SKIP:
            data[name] = value
    try:
        return serializer.validate(data)
    except (serializers.ValidationError, DjangoValidationError):
        return None


def _missing(field):
    """What a field absent from the event becomes: its default, left out, or DRF's error."""
    if field.required or callable(field.default):
        return _SLOW
    return _SKIP if field.default is empty else field.default


def _plain_check(field):
    if field.allow_null or (field.validators and type(field) is not StrictCharField):
        return None
    if type(field) is StrictCharField:
        return _text_check(field)
    missing = _missing(field)
    if type(field) is serializers.ChoiceField and not field.allow_blank:
        choices = field.choice_strings_to_values

        def check(value):
            if value is empty:
                return missing
            return choices[value] if type(value) is str and value in choices else _SLOW
        return check
    if type(field) is serializers.BooleanField:
        def check(value):
            if value is empty:
                return missing
            return value if type(value) is bool else _SLOW
        return check
    if type(field) is EventTimeField:
        def check(value):
            if value is empty:
                return missing
            if value is None:
                return _SLOW
            try:
                return field.to_internal_value(value)
            except serializers.ValidationError:
                return _SLOW
        return check
    return None


_TEXT_VALIDATORS = {MaxLengthValidator, ProhibitNullCharactersValidator,
                    ProhibitSurrogateCharactersValidator}


def _text_check(field):
    """CharField.run_validation + StrictCharField for a str value: blank, trimmed, at most
    max_length, no NUL, no lone surrogate (which is what utf-8 cannot encode)."""
    if field.min_length is not None or not {type(v) for v in field.validators} <= _TEXT_VALIDATORS:
        return None
    missing, trim = _missing(field), field.trim_whitespace
    allow_blank, max_length = field.allow_blank, field.max_length or float("inf")

    def check(value):
        if type(value) is not str:
            return missing if value is empty else _SLOW
        if trim:
            value = value.strip()
        if not value:
            return "" if allow_blank else _SLOW
        if len(value) > max_length or "\x00" in value:
            return _SLOW
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _SLOW
        return value
    return check
