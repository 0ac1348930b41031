from django.urls import re_path
from rest_framework.routers import DefaultRouter

from .actions import ActionInvokeView, ActionListView
from .flows import ActionFlowViewSet
from .runs import FlowRunViewSet
from .templates import FlowTemplateViewSet

router = DefaultRouter()
# As in integration.api.urls: the final slash is optional (a 301 on a POST loses the body).
router.trailing_slash = "/?"
router.include_root_view = False  # /api/v1/ is integration's root view
router.register("action-flows", ActionFlowViewSet, basename="action-flow")
router.register("flow-runs", FlowRunViewSet, basename="flow-run")
router.register("flow-templates", FlowTemplateViewSet, basename="flow-template")

urlpatterns = [
    *router.urls,
    re_path(r"^actions/?$", ActionListView.as_view(), name="action-list"),
    # A version is written with dots ("1.0"), so neither part is a router lookup.
    re_path(r"^actions/(?P<group>[^/]+)/(?P<version>[^/]+)/invoke/?$",
            ActionInvokeView.as_view(), name="action-invoke"),
]
