from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("integration.api.urls")),
    path("api/v1/", include("pushconfig.api.urls")),
    path("api/v1/", include("archiving.api.urls")),
    path("api/v1/", include("actionflow.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("hooks/", include("integration.hooks.urls")),
    path("sandbox/", include("pushconfig.sandbox.urls")),
]
