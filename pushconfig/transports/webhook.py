"""Generic webhook: each item as one signed POST, in one of two formats (`signing`).

`callback` — the approval-task callbacks of the low-code platform (seeds 001/003), exactly as
the platform sends them, so that one console (or anything else that accepts those callbacks)
can be fed by another: point the server URL at its `/hooks/tasks/<slug>`; the action is
appended (`<server URL>/<action>`). Data sets become actions (ACTION below); parameters are
form-encoded text, `dateTime` is epoch milliseconds, and `sign` is the platform's MD5
signature (integration/hooks/signature.py) made with the configured `token`.

`standard` — Standard Webhooks (standardwebhooks.com): a JSON body
`{"type": "todo.<data set>", "timestamp": ISO 8601, "data": {...}}` and the headers
`webhook-id` (the record's idempotency key: the same on every retry, so the receiver can drop
repeats), `webhook-timestamp` (epoch seconds) and `webhook-signature`:
`v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, the key being the base64 part of
the `whsec_…` secret. While a secret is rotated, `previous_secret` is set and both signatures
are sent, space-separated, so receivers holding either verify.

Any 2xx answer is a success; the base class classes the other answers.
"""
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from integration.hooks.signature import compute_sign
from integration.vocabulary import BusinessStatus, DataSet

from . import register
from .base import Delivery, Transport, TransportError, epoch_ms

CALLBACK, STANDARD = "callback", "standard"

# -- vocabulary: our data sets as the platform's callback actions -----------------------------
ACTION = {DataSet.TODO: "create", DataSet.DONE: "finish", DataSet.OVER: "finish",
          DataSet.DELETE: "delete"}
ACTION_BY_STATUS = {(DataSet.TODO, BusinessStatus.CC): "cc",
                    (DataSet.DELETE, BusinessStatus.CANCEL): "cancel"}
EVENT_TYPE = "todo.{data_set}"  # Standard Webhooks event types
PING = "ping"
SECRET_PREFIX = "whsec_"
CONNECTION_TEST_FORM = "connection-test"


def decode_secret(value):
    """The HMAC key of a `whsec_<base64>` secret; ValueError when it is not one."""
    if not isinstance(value, str) or not value.startswith(SECRET_PREFIX):
        raise ValueError("no whsec_ prefix")
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if not key:
        raise ValueError("empty")
    return key


def standard_signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookParams(serializers.Serializer):
    signing = serializers.ChoiceField(
        choices=[(CALLBACK, gettext_lazy("Approval-task callback (MD5 sign)")),
                 (STANDARD, gettext_lazy("Standard Webhooks (HMAC-SHA256)"))],
        label="signing",
        help_text=gettext_lazy("callback: the low-code platform's task callbacks, form-encoded, "
                               "to <server URL>/<action> (point it at another console's "
                               "/hooks/tasks/<slug>). standard: one JSON POST per item, signed "
                               "as standardwebhooks.com describes."))
    token = serializers.CharField(
        required=False, allow_blank=True, max_length=256, label="token",
        style={"input_type": "password"},
        help_text=gettext_lazy("callback only: the receiving source's system token, used for "
                               "the MD5 sign. Stored encrypted; leave empty to keep the "
                               "stored one."))
    appType = serializers.CharField(
        required=False, allow_blank=True, max_length=64, label="appType",
        help_text=gettext_lazy("callback only: the appType sent with finish, cancel and delete "
                               "(and in the task of create and cc)."))
    corpId = serializers.CharField(
        required=False, allow_blank=True, max_length=64, label="corpId",
        help_text=gettext_lazy("callback only: the corpId sent with finish, cancel and delete "
                               "(and in the task of create and cc)."))
    secret = serializers.CharField(
        required=False, allow_blank=True, max_length=200, label="secret",
        style={"input_type": "password"},
        help_text=gettext_lazy("standard only: the signing secret, “whsec_” followed by base64. "
                               "Stored encrypted; leave empty to keep the stored one."))
    previous_secret = serializers.CharField(
        required=False, allow_blank=True, max_length=200, label="previous_secret",
        style={"input_type": "password"},
        help_text=gettext_lazy("standard only, while rotating: the secret being replaced. Both "
                               "signatures are sent until it is removed."))

    def _whsec(self, value):
        if value:
            try:
                decode_secret(value)
            except ValueError:
                raise serializers.ValidationError(
                    _("Give the secret as “whsec_” followed by base64 (e.g. "
                      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw).")) from None
        return value

    validate_secret = validate_previous_secret = _whsec

    def validate(self, attrs):
        needed = {CALLBACK: ("token", "appType", "corpId"), STANDARD: ("secret",)}
        missing = {name: _("Required when signing is “%(signing)s”.")
                   % {"signing": attrs["signing"]}
                   for name in needed[attrs["signing"]] if not attrs.get(name)}
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


@register
class WebhookTransport(Transport):
    key = "webhook"
    label = gettext_lazy("Webhook")
    implementation = "WPushWebhook"
    Params = WebhookParams
    secret_params = ("token", "secret", "previous_secret")
    suite_params = ("signing",)

    @property
    def signing(self):
        return self.params.get("signing") or STANDARD

    def send_one(self, item):
        if self.signing == CALLBACK:
            action = ACTION_BY_STATUS.get((item.data_set, item.business_status),
                                          ACTION[item.data_set])
            return self.post_callback(action, self.callback_params(action, item))
        payload = {"type": EVENT_TYPE.format(data_set=item.data_set),
                   "timestamp": timezone.now().isoformat(), "data": item_data(item)}
        return self.post_standard(item.idempotency_key, payload)

    # -- callback ----------------------------------------------------------------------------
    def callback_params(self, action, item):
        """The parameters the platform would send for this action (text, sign not yet)."""
        when = str(epoch_ms(item.occurred_at))
        if action in ("create", "cc"):
            task = {
                "formInstanceId": item.request_id, "title": item.title,
                "originatorId": item.creator, "actionerId": item.receiver,
                "processCode": item.workflow_id, "createTime": epoch_ms(item.created_at),
                "taskId": callback_task_id(item), "activityName": item.node_name,
                "appType": self.params.get("appType", ""), "corpId": self.params.get("corpId", ""),
            }
            task = {k: v for k, v in task.items() if v not in ("", None)}
            return {"task": json.dumps(task, ensure_ascii=False), "dateTime": when}
        common = {"appType": self.params["appType"], "corpId": self.params["corpId"]}
        if action == "delete":
            return {**common, "formInstId": item.request_id, "dateTime": when}
        return {**common, "taskId": callback_task_id(item), "actualWorkId": item.receiver,
                "formInstId": item.request_id, "dateTime": when}

    def post_callback(self, action, params):
        signed = {**params, "sign": compute_sign(params, self.params["token"])}
        response = self.http("POST", f"{self.base_url}/{action}", data=signed,
                             allow_redirects=False)
        return self.answer(response, {"action": action, **signed})

    # -- standard ----------------------------------------------------------------------------
    def post_standard(self, msg_id, payload):
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timestamp = str(int(time.time()))
        try:
            keys = [decode_secret(self.params.get("secret"))]
            if self.params.get("previous_secret"):
                keys.append(decode_secret(self.params["previous_secret"]))
        except ValueError:
            raise TransportError(_("The signing secret is not “whsec_” followed by base64: "
                                   "correct the config's parameters."), permanent=True) from None
        headers = {
            "webhook-id": msg_id, "webhook-timestamp": timestamp,
            "webhook-signature": " ".join(standard_signature(k, msg_id, timestamp, raw)
                                          for k in keys),
            "Content-Type": "application/json",
        }
        logged = {"webhook-id": msg_id, "webhook-timestamp": timestamp, **payload}
        try:
            response = self.http("POST", self.base_url, data=raw, headers=headers,
                                 allow_redirects=False)
        finally:
            self.last_request = logged  # http() saw bytes; the log keeps the fields
        return self.answer(response, logged)

    def answer(self, response, logged):
        text = response.text[:4000]
        if 200 <= response.status_code < 300:
            return Delivery(True, http_status=response.status_code, request=logged,
                            response=text)
        # Redirects are not followed (a POST would turn into a GET): fix the URL instead.
        raise TransportError(
            _("The target answered HTTP %(status)d (%(location)s); point the server URL at "
              "the final address.") % {"status": response.status_code,
                                       "location": response.headers.get("Location", "-")},
            permanent=True, http_status=response.status_code, response=text)

    def test_connection(self):
        """standard: a signed `ping`; callback: a signed delete of a form instance that cannot
        exist, which changes nothing on a console and proves the token and the URL."""

        def call():
            if self.signing == CALLBACK:
                params = {"appType": self.params["appType"], "corpId": self.params["corpId"],
                          "formInstId": CONNECTION_TEST_FORM,
                          "dateTime": str(epoch_ms(timezone.now()))}
                return self.post_callback("delete", params)
            payload = {"type": PING, "timestamp": timezone.now().isoformat(), "data": {}}
            return self.post_standard(f"msg_{uuid.uuid4().hex}", payload)

        return self.deliver(call)


def callback_task_id(item):
    """The platform's finish and cancel need a taskId: the OA's own, else one made stable per
    todo item so that the create and the finish of one item name the same task."""
    if item.task_id:
        return item.task_id
    parts = [item.request_id, item.receiver_login or item.receiver]
    if item.identity:
        parts.append(item.identity)
    return "-".join(parts)


def item_data(item):
    return {
        "request_id": item.request_id, "title": item.title,
        "workflow_id": item.workflow_id, "workflow_name": item.workflow_name,
        "node_name": item.node_name, "data_set": item.data_set,
        "business_status": item.business_status, "creator": item.creator,
        "receiver": item.receiver, "identity": item.identity, "task_id": item.task_id,
        "viewed": item.viewed, "created_at": _utc(item.created_at),
        "occurred_at": _utc(item.occurred_at), "pc_url": item.pc_url,
        "app_url": item.app_url, "adaptive_url": item.adaptive_url,
    }


def _utc(value):
    return value.astimezone(dt.UTC).isoformat()
