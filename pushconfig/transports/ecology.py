"""Weaver e-cology 8/9 unified todo centre (OFS, 异构系统待办), REST/JSON.

Every state goes through `ReceiveRequestInfoByJson`, the target's idempotent upsert (it inserts
when the item is absent and updates it otherwise), so a repeated push is harmless and a done
that arrives for an unknown item still lands; `receivets` (ms) makes the target drop a late
request that would overwrite a newer state. Deleting one person's item uses
`deleteUserRequestInfoByJson`. No token: the target trusts a registered `syscode` from
allow-listed addresses.
"""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from integration.vocabulary import BusinessStatus, DataSet

from . import register
from .base import Delivery, Transport, TransportError, epoch_ms, oa_datetime

UPSERT = "/rest/ofs/ReceiveRequestInfoByJson"
DELETE_USER = "/rest/ofs/deleteUserRequestInfoByJson"

ISREMARK = {DataSet.TODO: "0", DataSet.DONE: "2", DataSet.OVER: "4"}
ISREMARK_CC = "8"  # to-read, newer servers only: sent when toViewRemark is on
VIEWTYPE = {True: "1", False: "0"}

# Answers with operResult "0" whose message says the target is busy are worth retrying;
# every other refusal (unknown receiver, unregistered syscode, IP not allowed) is permanent.
TRANSIENT_HINTS = ("timeout", "超时", "繁忙", "busy", "稍后")


class EcologyParams(serializers.Serializer):
    sysCode = serializers.CharField(
        max_length=64, label="sysCode",
        help_text=gettext_lazy("Must equal the identifier registered on the receiving system."))
    toViewRemark = serializers.BooleanField(
        default=False, label="toViewRemark",
        help_text=gettext_lazy("Push carbon copies as to-read items (isremark 8; newer servers "
                               "only) instead of as todos."))


@register
class EcologyTransport(Transport):
    key = "ecology"
    label = gettext_lazy("e-cology 8/9")
    implementation = "WPushEcologyRest"
    Params = EcologyParams
    suite_params = ("sysCode",)

    def body(self, item):
        isremark = ISREMARK.get(item.data_set, "0")
        if (item.data_set == DataSet.TODO and item.business_status == BusinessStatus.CC
                and self.params.get("toViewRemark")):
            isremark = ISREMARK_CC
        viewed = item.viewed or item.data_set in (DataSet.DONE, DataSet.OVER)
        return {
            "syscode": self.params["sysCode"],
            "flowid": item.request_id,
            "requestname": item.title,
            "workflowname": item.workflow_name,
            "nodename": item.node_name,
            "pcurl": item.pc_url,
            "appurl": item.app_url,
            "creator": item.creator,
            "createdatetime": oa_datetime(item.created_at),
            "receiver": item.receiver,
            "receivedatetime": oa_datetime(item.occurred_at),
            "isremark": isremark,
            "viewtype": VIEWTYPE[bool(viewed)],
            "receivets": str(epoch_ms(item.occurred_at)),
        }

    def send_one(self, item):
        if item.data_set == DataSet.DELETE:
            body = {"syscode": self.params["sysCode"], "flowid": item.request_id,
                    "userid": item.receiver}
            path = DELETE_USER
        else:
            body, path = self.body(item), UPSERT
        response = self.http("POST", self.base_url + path, json=body,
                             headers={"Idempotency-Key": item.idempotency_key})
        return self.answer(response, body)

    def answer(self, response, body):
        data = self.json_of(response)
        text = response.text[:4000]
        if str(data.get("operResult")) == "1":
            return Delivery(True, http_status=response.status_code, request=body, response=text)
        message = str(data.get("message") or _("operResult is not 1"))
        permanent = not any(hint in message.lower() for hint in TRANSIENT_HINTS)
        raise TransportError(_("The target refused: %(message)s") % {"message": message},
                             permanent=permanent, http_status=response.status_code, response=text)

    def test_connection(self):
        """Deleting an item that cannot exist is harmless and shows whether the target knows
        our syscode and address."""
        body = {"syscode": self.params["sysCode"], "flowid": "connection-test", "userid": "-"}

        def call():
            response = self.http("POST", self.base_url + DELETE_USER, json=body)
            return self.answer(response, body)

        return self.deliver(call)
