"""Landray EKP: remove history (蓝凌(SOAP)推送清理历史数据, WPushRemoveLanLingToSOAP).

Every item, whatever its data set, becomes `deleteTodo` with `optType` 1: the whole EKP todo of
the item's `modelId` goes, for every person, so that a history re-push through the
`landray_soap` type can rebuild it from our state. `modelId` and `modelName` are those the
`landray_soap` type sends, so the same `appName` must be used as there.

On its own this type only deletes: without a history re-push afterwards, the todos it removed
are missing in Landray.
"""
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from . import register
from .landray import DELETE, MODEL_NAME, OPT_WHOLE_TODO, LandrayCredentials, LandraySoap

WARNING = gettext_lazy(
    "Deletes the todos already pushed to Landray (deleteTodo, optType 1) so that they can be "
    "pushed again. Only for data pushed to Landray before the current version, and only together "
    "with a history re-push: data deleted here and not re-pushed is missing in Landray.")


class LandrayRemoveParams(LandrayCredentials):
    # The warning rides on the first parameter so that every form showing the parameters
    # shows it too.
    appName = serializers.CharField(
        max_length=100, label="appName",
        help_text=format_lazy("{} {}", gettext_lazy(
            "The appName the todos were pushed with: it must equal the identifier Landray "
            "assigned."), WARNING))


@register
class LandrayRemoveHistoryTransport(LandraySoap):
    key = "landray_remove_history"
    label = gettext_lazy("Landray (SOAP) — remove history")
    implementation = "WPushRemoveLanLingToSOAP"
    help_text = WARNING
    Params = LandrayRemoveParams
    secret_params = ("password",)
    suite_params = ("appName", "username", "password")

    def arg0(self, item):
        return {"appName": self.params["appName"], "modelName": MODEL_NAME,
                "modelId": self.model_id(item), "optType": OPT_WHOLE_TODO,
                "key": item.request_id, "param1": item.workflow_id}

    def send_one(self, item):
        return self.call(DELETE, self.arg0(item))
