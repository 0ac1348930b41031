from django.urls import path
from rest_framework.routers import DefaultRouter

from .callbacks import CallbackLogViewSet, CallbackSourceViewSet
from .inbox import TodoEventViewSet, WorkflowEventViewSet
from .views import SYNC_VIEWSETS, RequestViewSet, TodoItemViewSet, health

router = DefaultRouter(trailing_slash="/?")
router.register("todo-events", TodoEventViewSet, basename="todo-event")
router.register("workflow-events", WorkflowEventViewSet, basename="workflow-event")
router.register("requests", RequestViewSet, basename="request")
router.register("todo-items", TodoItemViewSet, basename="todo-item")
router.register("callback-sources", CallbackSourceViewSet, basename="callback-source")
router.register("callback-logs", CallbackLogViewSet, basename="callback-log")
for prefix, viewset in SYNC_VIEWSETS.items():
    router.register(prefix, viewset, basename=prefix.replace("/", "-"))

urlpatterns = [path("health/", health, name="health"), *router.urls]
