"""Reading a callback's parameters from the request body, strictly.

The platform posts its parameters as a form (application/x-www-form-urlencoded, or
multipart/form-data) or as one JSON object. Whatever arrives, the answer is either a dict of
parameters or a Refused naming what is wrong: never a 500, never a silent repair. In
particular bytes that are not UTF-8 are refused rather than replaced (the signature was made
over the real bytes, and a replaced character would only turn into a confusing "wrong
signature"), and so are repeated keys, NUL characters and lone surrogates (PostgreSQL cannot
store them), nested values and more parameters than any action sends.
"""
import json
from io import BytesIO
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from rest_framework import serializers

from ..events import check_text
from .errors import Refused
from .signature import ambiguous_keys

# The biggest body a callback may have. The task JSON holds the form's data, which can be
# long for forms with sub-tables, but a megabyte is far beyond any real one.
# TASK_CALLBACK_MAX_BODY_BYTES in the settings overrides it.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_PARAMS = 50
MAX_KEY_LENGTH = 100


def read_params(request) -> dict:
    """The parameters exactly as received: a dict of text (form) or of JSON values (JSON).
    Only shape is checked here; normalise() checks the values."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused(400, {"body": _("The Content-Length header is not a number.")}) from None
    limit = max_body_bytes()
    if declared > limit:
        raise _too_big(limit)
    try:
        body = request.read(limit + 1)
    except OSError:
        raise Refused(400, {"body": _("The request body could not be read.")}) from None
    if len(body) > limit:
        raise _too_big(limit)

    content_type = (request.content_type or "").lower()
    charset = (request.content_params or {}).get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise Refused(415, {"body": _("Send the body in UTF-8 (charset “%(charset)s” is not "
                                      "supported).") % {"charset": charset[:40]}})
    if content_type == "application/json" or content_type.endswith("+json"):
        return _parse_json(body)
    if content_type in ("", "application/x-www-form-urlencoded"):
        return _parse_form(body)
    if content_type == "multipart/form-data":
        return _parse_multipart(request, body)
    raise Refused(415, {"body": _("Send the parameters as a form (application/x-www-form-"
                                  "urlencoded) or as a JSON object (application/json).")})


def max_body_bytes() -> int:
    return getattr(settings, "TASK_CALLBACK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)


def _too_big(limit):
    return Refused(413, {"body": _("The request body is larger than %(max)d bytes.")
                                 % {"max": limit}})


def _not_utf8():
    return Refused(400, {"body": _("The body is not valid UTF-8.")})


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def _unique_pairs(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise Refused(400, {"body": _("The parameter “%(key)s” is given more than once.")
                                        % {"key": key[:MAX_KEY_LENGTH]}})
        result[key] = value
    return result


def _parse_json(body: bytes) -> dict:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_utf8() from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise Refused(400, {"body": _("The body is not valid JSON.")}) from None
    if not isinstance(data, dict):
        raise Refused(400, {"body": _("Send the parameters as one JSON object.")})
    return data


def _parse_form(body: bytes) -> dict:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_utf8() from None
    pairs = []
    for chunk in text.split("&"):
        if not chunk:
            continue
        key, _sep, value = chunk.partition("=")
        try:
            pairs.append((_unquote(key), _unquote(value)))
        except UnicodeDecodeError:
            raise Refused(
                400, {"body": _("A percent-encoded parameter is not valid UTF-8.")}) from None
        if len(pairs) > MAX_PARAMS:
            raise _too_many()
    return _unique_pairs(pairs)


def _unquote(text: str) -> str:
    return unquote_to_bytes(text.replace("+", " ")).decode("utf-8")


def _parse_multipart(request, body: bytes) -> dict:
    try:
        post, files = request.parse_file_upload(request.META, BytesIO(body))
    except (MultiPartParserError, SuspiciousOperation, ValueError):
        raise Refused(400, {"body": _("The multipart body cannot be parsed.")}) from None
    if files:
        raise Refused(400, {"body": _("Callbacks carry no files.")})
    if len(post) > MAX_PARAMS:
        raise _too_many()
    pairs = []
    for key, values in post.lists():
        pairs.extend((key, value) for value in values)
    return _unique_pairs(pairs)


def _too_many():
    return Refused(400, {"body": _("More than %(max)d parameters.") % {"max": MAX_PARAMS}})


def normalise(raw: dict) -> dict[str, str]:
    """The parameters as the text the signature is made of. JSON whole numbers become their
    decimal text (what Java's string concatenation makes of a number); anything else that is
    not text is refused, naming the parameter."""
    if len(raw) > MAX_PARAMS:
        raise _too_many()
    params, errors = {}, {}
    for key, value in raw.items():
        if not key or len(key) > MAX_KEY_LENGTH:
            raise Refused(400, {"body": _("Parameter names must be 1 to %(max)d characters long.")
                                        % {"max": MAX_KEY_LENGTH}})
        try:
            check_text(key)
        except serializers.ValidationError:
            raise Refused(400, {"body": _("A parameter name holds a null character or an "
                                          "unpaired surrogate.")}) from None
        if isinstance(value, bool) or not isinstance(value, str | int):
            errors[key] = [_("Must be text (or a whole number), not a JSON %(type)s.")
                           % {"type": _json_type(value)}]
            continue
        text = value if isinstance(value, str) else str(value)
        try:
            check_text(text)
        except serializers.ValidationError as exc:
            errors[key] = [str(m) for m in exc.detail]
            continue
        params[key] = text
    if errors:
        raise Refused(400, errors)
    groups = ambiguous_keys(params)
    if groups:
        raise Refused(400, {
            key: [_("Parameter names that differ only in letter case are ambiguous "
                    "(%(names)s): the platform's signature would merge them.")
                  % {"names": ", ".join(group)}]
            for group in groups for key in group
        })
    return params


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"
