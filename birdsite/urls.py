from django.contrib import admin
from django.urls import include, path

from classifier import views as classifier_views

urlpatterns = [
    path("", classifier_views.identify, name="home"),
    path("", include("classifier.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("classifier.api.urls")),
    path("", include("core.urls")),  # /healthz and /readyz
]
