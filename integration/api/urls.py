from django.urls import re_path
from rest_framework.routers import DefaultRouter

from .callbacks import CallbackLogViewSet, CallbackSourceViewSet
from .inbox import TodoEventViewSet, WorkflowEventViewSet
from .views import SYNC_VIEWSETS, RequestViewSet, TodoItemViewSet, health

router = DefaultRouter()
# Clients write paths with or without the final slash (DESIGN.md names both forms); a 301 on a
# POST would lose the body, so the slash is optional everywhere.
router.trailing_slash = "/?"
router.register("todo-events", TodoEventViewSet, basename="todo-event")
router.register("workflow-events", WorkflowEventViewSet, basename="workflow-event")
router.register("requests", RequestViewSet, basename="request")
router.register("todo-items", TodoItemViewSet, basename="todo-item")
router.register("callback-sources", CallbackSourceViewSet, basename="callback-source")
router.register("callback-logs", CallbackLogViewSet, basename="callback-log")
for prefix, viewset in SYNC_VIEWSETS.items():
    router.register(prefix, viewset, basename=prefix.replace("/", "-"))

urlpatterns = [re_path(r"^health/?$", health, name="health"), *router.urls]
