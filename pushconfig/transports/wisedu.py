"""Wisedu todo centre (金智教育 待办中心): a configurable JSON-over-HTTP push type.

No public specification exists (PROTOCOLS.md), so nothing below is Wisedu's documented
protocol: it is a shape that matches the usual todo-centre interface documents, with every
vendor-specific choice an admin parameter. THE DEFAULTS MUST BE CHECKED AGAINST THE CUSTOMER'S
INTERFACE DOCUMENT before going live; the connection test shows the target's raw answer.

- One POST per item, `Content-Type: application/json; charset=utf-8`, to the server URL plus
  the operation's path: `todoPath` (default `/api/todo/push`) for the todo data set,
  `donePath` (default `/api/todo/done`) for done and over, `deletePath` (default
  `/api/todo/delete`) for delete.
- Body: `taskId` (one todo item's stable id, so a repeated push updates rather than
  duplicates and done/delete find the todo), `flowId`, `title`, `url`, `mobileUrl`, `creator`,
  `receiver`, `createTime` (`yyyy-MM-dd HH:mm:ss`), `status` (table below). The record's own
  idempotency key travels in the `Idempotency-Key` header.
- Authentication: headers `appId`, `timestamp` (epoch milliseconds) and `sign`, the lowercase
  hex HMAC-SHA256 keyed with `appSecret` over `appId + timestamp + body` (the exact UTF-8
  bytes sent).
- Links: the OA part of each link (settings.OA_BASE_URL) is replaced by `oaAddress`, the
  address at which the todo centre's users reach our system.
- Answer: a JSON object; success when the field `successField` (default `code`; a dotted path
  such as `result.code` reaches inside) equals `successValue` (default `"0"`); otherwise the
  field `messageField` (default `message`) says why, and the failure is permanent unless that
  message says the target is busy.
"""
import hashlib
import hmac
import json
import time

from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from integration.jsonpath import dig
from integration.vocabulary import BusinessStatus, DataSet

from . import register
from .base import Delivery, Transport, TransportError, oa_datetime

# -- vendor vocabulary (defaults: check them against the customer's interface document) -------
DEFAULTS = {
    "todoPath": "/api/todo/push",
    "donePath": "/api/todo/done",
    "deletePath": "/api/todo/delete",
    "successField": "code",
    "successValue": "0",
    "messageField": "message",
}
PATH_OF = {DataSet.TODO: "todoPath", DataSet.DONE: "donePath", DataSet.OVER: "donePath",
           DataSet.DELETE: "deletePath"}
STATUS = {DataSet.TODO: "todo", DataSet.DONE: "done", DataSet.OVER: "over",
          DataSet.DELETE: "delete"}
STATUS_CC = "cc"  # the cc business status of the todo data set: a to-read item
TRANSIENT_HINTS = ("timeout", "超时", "繁忙", "busy", "稍后")
CHECK_DOCUMENT = gettext_lazy("Wisedu publishes no specification: check this against the "
                              "customer's interface document.")


def _help(text, default=None):
    """Every parameter's help says where its truth lies: the customer's interface document."""
    if default is not None:
        text = format_lazy(text, default=default)
    return format_lazy("{} {}", text, CHECK_DOCUMENT)


class WiseduParams(serializers.Serializer):
    appId = serializers.CharField(
        max_length=128, label="appId",
        help_text=_help(gettext_lazy("The appId assigned by the Wisedu todo centre; sent in "
                                     "the appId header and signed.")))
    appSecret = serializers.CharField(
        max_length=256, label="appSecret", style={"input_type": "password"},
        help_text=_help(gettext_lazy("The appSecret assigned by the Wisedu todo centre: the "
                                     "key of the HMAC-SHA256 sign header (over appId + "
                                     "timestamp + body, lowercase hex). Stored encrypted; "
                                     "leave empty to keep the stored one.")))
    oaAddress = serializers.URLField(
        max_length=500, label="oaAddress",
        help_text=gettext_lazy("The address of THIS system as the todo centre's users reach "
                               "it (not the Wisedu address): it replaces the OA address in "
                               "the links of each todo."))
    todoPath = serializers.CharField(
        required=False, default=DEFAULTS["todoPath"], max_length=200, label="todoPath",
        help_text=_help(gettext_lazy("Path for todo items. Default: {default}."),
                        DEFAULTS["todoPath"]))
    donePath = serializers.CharField(
        required=False, default=DEFAULTS["donePath"], max_length=200, label="donePath",
        help_text=_help(gettext_lazy("Path for done and finished items. Default: {default}."),
                        DEFAULTS["donePath"]))
    deletePath = serializers.CharField(
        required=False, default=DEFAULTS["deletePath"], max_length=200, label="deletePath",
        help_text=_help(gettext_lazy("Path for deleted items. Default: {default}."),
                        DEFAULTS["deletePath"]))
    successField = serializers.CharField(
        required=False, default=DEFAULTS["successField"], max_length=100, label="successField",
        help_text=_help(gettext_lazy("Field of the answer that says success; a dotted path "
                                     "(result.code) reaches inside objects. Default: "
                                     "{default}."), DEFAULTS["successField"]))
    successValue = serializers.CharField(
        required=False, default=DEFAULTS["successValue"], max_length=100, label="successValue",
        help_text=_help(gettext_lazy("Value of that field on success, compared as text "
                                     "(true / false for booleans). Default: {default}."),
                        DEFAULTS["successValue"]))
    messageField = serializers.CharField(
        required=False, default=DEFAULTS["messageField"], max_length=100, label="messageField",
        help_text=_help(gettext_lazy("Field of the answer holding the reason of a failure; a "
                                     "dotted path reaches inside objects. Default: "
                                     "{default}."), DEFAULTS["messageField"]))

    def _path(self, value):
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise serializers.ValidationError(
                _("Start the path with “/” and leave out spaces, e.g. %(example)s.")
                % {"example": DEFAULTS["todoPath"]})
        return value

    validate_todoPath = validate_donePath = validate_deletePath = _path


@register
class WiseduTransport(Transport):
    key = "wisedu"
    label = gettext_lazy("Wisedu (todo centre)")
    implementation = "WPushWiseduTodoCenter"
    Params = WiseduParams
    secret_params = ("appSecret",)
    suite_params = ("appId", "appSecret", "oaAddress")

    def option(self, name):
        return self.params.get(name) or DEFAULTS[name]

    def body(self, item):
        status = STATUS.get(item.data_set, "")
        if item.data_set == DataSet.TODO and item.business_status == BusinessStatus.CC:
            status = STATUS_CC
        return {
            "taskId": task_id(item),
            "flowId": item.request_id,
            "title": item.title,
            "url": self.link(item.pc_url),
            "mobileUrl": self.link(item.app_url),
            "creator": item.creator,
            "receiver": item.receiver,
            "createTime": oa_datetime(item.created_at),
            "status": status,
        }

    def link(self, url):
        address = (self.params.get("oaAddress") or "").rstrip("/")
        base = settings.OA_BASE_URL.rstrip("/")
        if not url or not address:
            return url
        if url == base or url.startswith(base + "/"):
            return address + url[len(base):]
        if url.startswith("/"):
            return address + url
        return url

    def send_one(self, item):
        path = self.option(PATH_OF.get(item.data_set, "todoPath"))
        return self.post(path, self.body(item), {"Idempotency-Key": item.idempotency_key})

    def signed_headers(self, raw: bytes):
        app_id = self.params["appId"]
        timestamp = str(int(time.time() * 1000))
        sign = hmac.new(self.params["appSecret"].encode("utf-8"),
                        (app_id + timestamp).encode("utf-8") + raw, hashlib.sha256).hexdigest()
        return {"appId": app_id, "timestamp": timestamp, "sign": sign,
                "Content-Type": "application/json; charset=utf-8"}

    def post(self, path, payload, headers=None):
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        logged = {"path": path, **payload}
        try:
            response = self.http("POST", self.base_url + path, data=raw,
                                 headers={**self.signed_headers(raw), **(headers or {})})
        finally:
            self.last_request = logged  # http() saw bytes; the log keeps the fields
        data = self.json_of(response)
        text = response.text[:4000]
        value = dig(data, self.option("successField"))
        if as_text(value) == self.option("successValue").strip():
            return Delivery(True, http_status=response.status_code, request=logged,
                            response=text)
        message = as_text(dig(data, self.option("messageField"))) or text[:500]
        permanent = not any(hint in message.lower() for hint in TRANSIENT_HINTS)
        raise TransportError(_("The todo centre refused: %(message)s") % {"message": message},
                             permanent=permanent, http_status=response.status_code,
                             response=text)

    def test_connection(self):
        """Posts a probe to the todo path: the answer shows whether the address, the path, the
        appId and the signature are accepted (a refusal of the probe's missing fields still
        proves they are)."""

        def call():
            result = self.post(self.option("todoPath"), {"taskId": "connection-test"})
            result.reason = _("The todo centre answered: %(answer)s") % {
                "answer": result.response[:500]}
            return result

        return self.deliver(call)


def task_id(item):
    """One todo item's id at the target: the same for its todo, done and delete."""
    parts = [item.request_id, item.receiver_login or item.receiver]
    if item.identity:
        parts.append(item.identity)
    return "-".join(parts)


def as_text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()
