"""The sandbox as Weaver e-cology 8/9's unified todo centre (OFS): POST
/sandbox/ecology/rest/ofs/<operation>, one JSON object, answered with HTTP 200 and
`syscode`, `dataType`, `operType`, `operResult` ("1" success, "0" failure), `message` — even
for business failures, as e-cology does.

The checks are those of ../shared/PROTOCOLS.md: the fields each operation needs, dates written
`yyyy-MM-dd HH:mm:ss`, `isremark` 0 / 2 / 4 / 8 (the sandbox is a newer server, so it takes to-read
items), `viewtype` 0 / 1, `receivets` a number. The sandbox keeps no todo state: it does not
check that a done matches an earlier todo, nor refuse a second ReceiveTodoRequestByJson.
`dataType` and `operType` are not publicly documented; clients only read `operResult` and
`message`, so the sandbox fills them with plausible values.
"""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import SandboxProtocol
from .base import (Answer, Arrival, Protocol, as_text, bad_datetime, clean, datetime_message,
                   masked, masked_text, missing, parse_json_object, read_body, required_message,
                   short)

ITEM = ("syscode", "flowid", "requestname", "workflowname", "nodename", "creator",
        "createdatetime", "receiver", "receivedatetime")
LOCATE = ("syscode", "flowid", "requestname", "workflowname", "receiver")
# operation → (required fields, operType in the answer)
OPERATIONS = {
    "ReceiveRequestInfoByJson": (ITEM + ("isremark", "viewtype"), "AutoNew"),
    "ReceiveTodoRequestByJson": (ITEM, "AutoNew"),
    "ReceiveCCRequestByJson": (ITEM, "AutoNew"),
    "ProcessDoneRequestByJson": (LOCATE, "AutoEdit"),
    "ProcessOverRequestByJson": (LOCATE, "AutoEdit"),
    "deleteRequestInfoByJson": (("syscode", "flowid"), "AutoDel"),
    "deleteUserRequestInfoByJson": (("syscode", "flowid", "userid"), "AutoDel"),
}
ISREMARK = {"0", "2", "4", "8"}
VIEWTYPE = {"0", "1"}
DATA_TYPE = "OfsTodoData"


class Ecology(Protocol):
    key = SandboxProtocol.ECOLOGY
    default_refusal = gettext_lazy("The receiver does not exist.")

    def read(self, request, operation, behaviour):
        if operation not in OPERATIONS:
            return Arrival(operation[:64], reply=Answer(
                404, _("No such operation: %(operation)s.") % {"operation": operation[:64]},
                "text/plain"))
        if request.method != "POST":
            return self.method_not_allowed(operation)
        raw = read_body(request)
        data = parse_json_object(raw)
        if data is None:
            text = masked_text(raw)
            arrival = Arrival(operation, body=text, text=text[:100_000])
            arrival.rejection = self.refusal(arrival, _("The body is not a JSON object."))
            return arrival
        data = clean(data)
        shown = masked(data)
        arrival = Arrival(operation, body=shown, text=as_text(shown), summary=short(
            data.get("flowid"), data.get("requestname"), data.get("receiver") or data.get("userid"),
            f"isremark={data['isremark']}" if "isremark" in data else ""))
        problem = self.problem(operation, data)
        if problem:
            arrival.rejection = self.refusal(arrival, problem)
        return arrival

    def problem(self, operation, data):
        required, _oper_type = OPERATIONS[operation]
        absent = missing(data, required)
        if absent:
            return required_message(absent)
        non_text = [k for k, v in data.items() if v is not None and not isinstance(v, str)]
        if non_text:
            return _("Send every field as a string: %(fields)s.") % {"fields": ", ".join(non_text)}
        for name in ("createdatetime", "receivedatetime"):
            if data.get(name) and bad_datetime(data[name]):
                return datetime_message(name)
        if "isremark" in data and data["isremark"] not in ISREMARK:
            return _("isremark must be one of %(values)s.") % {"values": "0, 2, 4, 8"}
        if "viewtype" in data and data["viewtype"] not in VIEWTYPE:
            return _("viewtype must be 0 or 1.")
        if data.get("receivets") and not str(data["receivets"]).isdigit():
            return _("receivets must be a number of milliseconds.")
        return ""

    def answer(self, arrival, result, message):
        body = arrival.body if isinstance(arrival.body, dict) else {}
        _required, oper_type = OPERATIONS[arrival.operation]
        return Answer(200, {"syscode": str(body.get("syscode", "")), "dataType": DATA_TYPE,
                            "operType": oper_type, "operResult": result, "message": message},
                      accepted=result == "1")

    def success(self, arrival):
        return self.answer(arrival, "1", _("Success"))

    def refusal(self, arrival, message):
        return self.answer(arrival, "0", str(message))
