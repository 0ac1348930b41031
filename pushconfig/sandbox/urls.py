"""Mounted at /sandbox/ by config/urls.py. The paths below the protocol prefix are the real
systems' own, so a push config's server URL is `<console>/sandbox/<protocol>`."""
from django.urls import path

from . import views

app_name = "sandbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("ecology/rest/ofs/<str:operation>", views.ecology, name="ecology"),
    path("e10/papi/openapi/oauth2/<str:operation>", views.e10_oauth, name="e10-oauth"),
    path("e10/papi/openapi/api/open_intunifytodo/server_engine/receiveRequestInfo",
         views.e10_receive, name="e10-receive"),
    path("landray/sys/webservice/sysNotifyTodoWebService", views.landray, name="landray"),
    path("webhook/<path:rest>", views.webhook, name="webhook"),
]
