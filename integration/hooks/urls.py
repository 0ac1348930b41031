"""Mounted at /hooks/ by config/urls.py: POST /hooks/tasks/<source>/<action>."""
from django.urls import path

from . import views

urlpatterns = [
    path("tasks/<slug:source>/<str:action>", views.task_callback, name="task-callback"),
    path("tasks/<slug:source>/<str:action>/", views.task_callback),
]
