"""The sandbox as a webhook receiver: POST /sandbox/webhook/<anything>, a JSON or form body,
answered 200 `{"ok": true}`. The path after webhook/ is recorded as the operation (the
approval-task callback format puts its action there). The "refuse" behaviour answers 400
`{"ok": false, "message": ...}`: a webhook receiver has no business-failure-in-200 convention,
and senders treat every non-2xx as a failed delivery."""
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import SandboxProtocol
from .base import (Answer, Arrival, Protocol, as_text, clean, masked, parse_json_object,
                   read_body, short)

# Fields that usually say what an event is, shown in the arrivals list.
SUMMARY_KEYS = ("type", "event", "action", "event_id", "eventId", "taskId", "formInstId",
                "request_id", "receiver")


class Webhook(Protocol):
    key = SandboxProtocol.WEBHOOK
    default_refusal = gettext_lazy("The receiver refused the event.")

    def read(self, request, operation):
        operation = operation[:64]
        if request.method != "POST":
            return self.method_not_allowed(operation)
        raw = read_body(request)
        content_type = (request.content_type or "").lower()
        if content_type == "application/json" or content_type.endswith("+json"):
            data = parse_json_object(raw)
            if data is None:
                text = clean(raw.decode("utf-8", "replace"))
                arrival = Arrival(operation, body=text, text=text[:100_000])
                arrival.rejection = self.refusal(arrival, _("The body is not a JSON object."))
                return arrival
        elif content_type in ("", "application/x-www-form-urlencoded"):
            form = QueryDict(raw, encoding="utf-8")
            data = {k: (v[0] if len(v) == 1 else v) for k, v in form.lists()}
        else:
            text = clean(raw.decode("utf-8", "replace"))
            arrival = Arrival(operation, body=text, text=text[:100_000])
            arrival.rejection = Answer(415, {"ok": False, "message": _(
                "Send JSON or a form (application/x-www-form-urlencoded).")})
            return arrival
        shown = masked(clean(data))
        return Arrival(operation, body=shown, text=as_text(shown),
                       summary=short(*(f"{k}={shown[k]}" for k in SUMMARY_KEYS
                                       if isinstance(shown.get(k), str | int))))

    def success(self, arrival):
        return Answer(200, {"ok": True}, accepted=True)

    def refusal(self, arrival, message):
        return Answer(400, {"ok": False, "message": str(message)})
