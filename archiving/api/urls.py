from django.urls import re_path
from rest_framework.routers import DefaultRouter

from .action import IntiasWfView
from .logs import ArchiveLogViewSet
from .schemes import ArchiveSchemeViewSet
from .targets import ArchiveTargetKindViewSet, ArchiveTargetViewSet

router = DefaultRouter()
# As in integration.api.urls: the final slash is optional (a 301 on a POST loses the body).
router.trailing_slash = "/?"
router.include_root_view = False  # /api/v1/ is integration's root view
router.register("archive-targets", ArchiveTargetViewSet, basename="archive-target")
router.register("archive-target-kinds", ArchiveTargetKindViewSet, basename="archive-target-kind")
router.register("archive-schemes", ArchiveSchemeViewSet, basename="archive-scheme")
router.register("archive-logs", ArchiveLogViewSet, basename="archive-log")

urlpatterns = [
    *router.urls,
    re_path(r"^archive/intias_wf/?$", IntiasWfView.as_view(), name="archive-intias-wf"),
]
