"""What every sandbox protocol provides, and the helpers they share.

A protocol subclass must provide:
- `key` (a SandboxProtocol value) and `default_refusal` (the message of its "refuse" mode);
- `read(request, operation, behaviour)` → an `Arrival`: the parsed, masked body, a one-line
  summary, and either a `reply` (an answer that bypasses the behaviour: wrong method, unknown
  operation, a token call) or a `rejection` (what the real system answers to this request
  whatever the behaviour says, short of an outage: a missing field, a bad token, bad
  credentials);
- `success(arrival)` and `refusal(arrival, message)`: the target's own success and business
  failure shapes.
`unavailable(behaviour)` (HTTP 503 with Retry-After, plain text, as a gateway answers) is
shared; a protocol overrides it only if its outages look different.
"""
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.http import HttpResponse
from django.utils.translation import gettext as _

from integration.secrets import mask

# A push is small; a megabyte is far beyond any real one. Bigger bodies get 413, unread.
MAX_BODY_BYTES = 1024 * 1024
# Values never stored in clear, whatever protocol carries them (a production secret typed
# into a config pointed at the sandbox must not end up in its log).
SECRET_KEYS = {"access_token", "accesstoken", "refresh_token", "refreshtoken", "app_secret",
               "appsecret", "password", "secret", "token", "client_secret"}
SECRET_HEADERS = {"Authorization", "Proxy-Authorization", "X-Api-Key", "X-Auth-Token"}
DROPPED_HEADERS = {"Cookie"}
OA_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
TEXT_LIMIT = 100_000
# A secret key's value in text that is not a JSON object (broken JSON, a form, a query):
# `"token": "v"`, `token=v`, `'token': v`.
SECRET_IN_TEXT = re.compile(
    r"""(["']?(?:%s)["']?\s*[:=]\s*["']?)([^"'&,;\s}]+)""" % "|".join(sorted(SECRET_KEYS)),
    re.IGNORECASE)


class BodyTooBig(Exception):
    pass


@dataclass
class Answer:
    status: int
    body: object = ""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    accepted: bool = False

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")

    def response(self):
        content_type = self.content_type
        if "charset" not in content_type:
            content_type += "; charset=utf-8"
        response = HttpResponse(self.encoded(), status=self.status, content_type=content_type)
        for name, value in self.headers.items():
            response[name] = value
        return response

    def text(self):
        return self.encoded().decode("utf-8", "replace")[:TEXT_LIMIT]


@dataclass
class Arrival:
    operation: str
    body: object = None
    text: str = ""
    summary: str = ""
    reply: Answer | None = None
    rejection: Answer | None = None


class Protocol:
    key = ""
    default_refusal = ""

    def read(self, request, operation, behaviour) -> Arrival:
        raise TypeError(f"{type(self).__name__} must implement read()")

    def success(self, arrival) -> Answer:
        raise TypeError(f"{type(self).__name__} must implement success()")

    def refusal(self, arrival, message) -> Answer:
        raise TypeError(f"{type(self).__name__} must implement refusal()")

    def unavailable(self, behaviour) -> Answer:
        headers = {"Retry-After": str(behaviour.retry_after)} if behaviour.retry_after else {}
        message = behaviour.message or _("The sandbox is unavailable (behaviour “error”).")
        return Answer(behaviour.status, message, "text/plain", headers)

    def method_not_allowed(self, operation, allowed="POST"):
        return Arrival(operation, reply=Answer(
            405, _("Use %(method)s.") % {"method": allowed}, "text/plain", {"Allow": allowed}))


# -- reading -----------------------------------------------------------------------------------
def read_body(request) -> bytes:
    """The raw body, at most MAX_BODY_BYTES. Read through `request.body`, so that Django can
    still parse a multipart form from it afterwards."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise BodyTooBig
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooBig
    return body


def parse_json_object(raw: bytes):
    """The body as a JSON object, or None when it is not one."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def params_of(request, raw: bytes) -> dict:
    """Parameters from wherever a client put them: a JSON object, a form, the query string
    (later sources do not override earlier ones)."""
    params = {}
    data = parse_json_object(raw) if raw else None
    if data:
        params.update(data)
    elif raw and (request.content_type or "").startswith("application/x-www-form-urlencoded"):
        from django.http import QueryDict

        for key, value in QueryDict(raw, encoding="utf-8").items():
            params.setdefault(key, value)
    for key, value in request.GET.items():
        params.setdefault(key, value)
    return params


# -- storing safely ----------------------------------------------------------------------------
def clean(value):
    """Values PostgreSQL can store: no NUL characters, no lone surrogates, and no NaN or
    infinite numbers (json.loads takes NaN, Infinity and 1e400; jsonb refuses them), which
    are recorded as their JSON spelling, as text."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value)
    if isinstance(value, dict):
        return {clean(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def masked_text(raw: bytes) -> str:
    """A body that could not be read as data, fit to store: cleaned, and the values of
    secret keys masked where they can be told apart in the text."""
    text = clean(raw.decode("utf-8", "replace"))
    return SECRET_IN_TEXT.sub(lambda m: m[1] + mask(m[2]), text)


def masked(value):
    """A copy with the values of secret keys masked, at any depth."""
    if isinstance(value, dict):
        return {k: (mask(str(v)) if str(k).lower() in SECRET_KEYS and v not in (None, "")
                    else masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def as_text(value) -> str:
    if isinstance(value, str):
        return value[:TEXT_LIMIT]
    return json.dumps(value, ensure_ascii=False)[:TEXT_LIMIT]


def headers_of(request) -> dict:
    headers = {}
    for name, value in request.headers.items():
        name = "-".join(part.capitalize() for part in name.split("-"))
        if name in DROPPED_HEADERS:
            continue
        headers[name] = mask(value) if name in SECRET_HEADERS and value else value
    return clean(headers)


# -- checking ---------------------------------------------------------------------------------
def missing(data: dict, fields) -> list[str]:
    return [name for name in fields if data.get(name) in (None, "")]


def bad_datetime(value) -> bool:
    """`yyyy-MM-dd HH:mm:ss` and a real moment: Weaver's servers cut dates by position."""
    if not isinstance(value, str) or not OA_DATETIME.match(value):
        return True
    try:
        datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return True
    return False


def required_message(fields) -> str:
    return _("Missing required field(s): %(fields)s.") % {"fields": ", ".join(fields)}


def datetime_message(name) -> str:
    return _("%(field)s must be a date and time written yyyy-MM-dd HH:mm:ss.") % {"field": name}


def short(*parts) -> str:
    return " · ".join(str(p) for p in parts if p not in (None, ""))[:300]
