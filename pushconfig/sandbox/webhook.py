"""The sandbox as a webhook receiver: POST /sandbox/webhook/<anything>, a JSON or form body,
answered 200 `{"ok": true}`. The path after webhook/ is recorded as the operation (the
approval-task callback format puts its action there). The "refuse" behaviour answers 400
`{"ok": false, "message": ...}`: a webhook receiver has no business-failure-in-200 convention,
and senders treat every non-2xx as a failed delivery.

When the behaviour holds a secret, signatures are checked as a receiver would and a bad one
gets 401: Standard Webhooks (`webhook-id`, `webhook-timestamp` within five minutes,
`webhook-signature` holding a `v1,` HMAC-SHA256 over `id.timestamp.body` made with the
`whsec_` secret; any of several space-separated signatures may match), or the approval-task
callback `sign` (MD5 in Java's case-insensitive key order, the secret being the token).
"""
import base64
import binascii
import hashlib
import hmac
import time

from django.http import QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integration.hooks.signature import sign_matches

from ..models import SandboxProtocol
from .base import (Answer, Arrival, Protocol, as_text, clean, masked, masked_text,
                   parse_json_object, read_body, short)

# Fields that usually say what an event is, shown in the arrivals list.
SUMMARY_KEYS = ("type", "event", "action", "event_id", "eventId", "taskId", "formInstId",
                "request_id", "receiver")
TIMESTAMP_TOLERANCE = 300  # seconds, as Standard Webhooks receivers allow


class Webhook(Protocol):
    key = SandboxProtocol.WEBHOOK
    default_refusal = gettext_lazy("The receiver refused the event.")

    def read(self, request, operation, behaviour):
        operation = operation[:64]
        if request.method != "POST":
            return self.method_not_allowed(operation)
        raw = read_body(request)
        content_type = (request.content_type or "").lower()
        if content_type == "application/json" or content_type.endswith("+json"):
            data = parse_json_object(raw)
            if data is None:
                text = masked_text(raw)
                arrival = Arrival(operation, body=text, text=text[:100_000])
                arrival.rejection = self.refusal(arrival, _("The body is not a JSON object."))
                return arrival
        elif content_type in ("", "application/x-www-form-urlencoded"):
            data = form_data(QueryDict(raw, encoding="utf-8"))
        elif content_type == "multipart/form-data":
            try:
                data = form_data(request.POST)
            except MultiPartParserError:
                data = None
            if data is None:
                arrival = Arrival(operation, body=None, text="")
                arrival.rejection = self.refusal(arrival, _("The form cannot be read."))
                return arrival
            data.update({name: f"<file {upload.name}, {upload.size} bytes>"
                         for name, upload in request.FILES.items()})
        else:
            text = masked_text(raw)
            arrival = Arrival(operation, body=text, text=text[:100_000])
            arrival.rejection = Answer(415, {"ok": False, "message": _(
                "Send JSON or a form (urlencoded or multipart).")})
            return arrival
        shown = masked(clean(data))
        arrival = Arrival(operation, body=shown, text=as_text(shown),
                          summary=short(*(f"{k}={shown[k]}" for k in SUMMARY_KEYS
                                          if isinstance(shown.get(k), str | int))))
        problem = signature_problem(behaviour.password, request, raw, data)
        if problem:
            arrival.rejection = Answer(401, {"ok": False, "message": problem})
        return arrival

    def success(self, arrival):
        return Answer(200, {"ok": True}, accepted=True)

    def refusal(self, arrival, message):
        return Answer(400, {"ok": False, "message": str(message)})


def form_data(form):
    return {k: (v[0] if len(v) == 1 else v) for k, v in form.lists()}


def signature_problem(secret, request, raw, data):
    if not secret:
        return ""
    if request.headers.get("webhook-signature"):
        return standard_problem(secret, request.headers, raw)
    if "sign" in data:
        params = {k: v for k, v in data.items() if isinstance(v, str)}
        if len(params) != len(data) or not sign_matches(params, secret, data["sign"]):
            return _("The sign does not match the parameters and the token.")
        return ""
    return _("The event carries no signature.")


def standard_problem(secret, headers, raw):
    msg_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 20):
        return _("webhook-id and webhook-timestamp are required with webhook-signature.")
    if abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE:
        return _("webhook-timestamp is too far from now.")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = secret.encode("utf-8")  # not a whsec_ secret: its own bytes
    signed = f"{msg_id}.{timestamp}.".encode() + raw
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for signature in headers["webhook-signature"].split():
        version, _sep, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return ""
    return _("No webhook-signature matches the secret.")
