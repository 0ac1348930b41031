from django.urls import re_path
from rest_framework.routers import DefaultRouter

from .addresses import CloudBridgeView, PushAddressViewSet
from .alerts import FuseRecordViewSet
from .configs import PushConfigViewSet, PushTypeViewSet
from .logs import PushRecordViewSet
from .tasks import PushTaskViewSet

router = DefaultRouter()
# As in integration.api.urls: the final slash is optional (a 301 on a POST loses the body).
router.trailing_slash = "/?"
router.include_root_view = False  # /api/v1/ is integration's root view
router.register("push-configs", PushConfigViewSet, basename="push-config")
router.register("push-types", PushTypeViewSet, basename="push-type")
router.register("push-logs", PushRecordViewSet, basename="push-log")
router.register("fuse-records", FuseRecordViewSet, basename="fuse-record")
router.register("push-addresses", PushAddressViewSet, basename="push-address")
router.register("push-tasks", PushTaskViewSet, basename="push-task")

urlpatterns = [
    *router.urls,
    re_path(r"^cloud-bridge/?$", CloudBridgeView.as_view(), name="cloud-bridge"),
]
