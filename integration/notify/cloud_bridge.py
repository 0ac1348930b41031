"""Cloud bridge (云桥) alerts: the bridge from the OA to the enterprise's IM platform, sent like
IM alerts but through the account enabled for the cloud bridge (IMAccount purpose
"cloud_bridge"), which may be another platform or another application than the IM one."""
from django.utils.translation import gettext_lazy

from .base import register
from .im import IMChannel


@register
class CloudBridgeChannel(IMChannel):
    key = "cloud_bridge"
    label = gettext_lazy("Cloud bridge (云桥)")
    address_label = gettext_lazy("a cloud bridge user id")
    purpose = "cloud_bridge"
