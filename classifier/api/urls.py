"""`/api/v1/`: token auth, predict, sightings, species, and the OpenAPI schema with its docs."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from classifier.api import views

app_name = "api"

router = DefaultRouter()
router.register("sightings", views.SightingViewSet, basename="sighting")
router.register("species", views.SpeciesViewSet, basename="species")

urlpatterns = [
    path("auth/token/", views.AuthTokenView.as_view(), name="auth-token"),
    path("predict/", views.PredictView.as_view(), name="predict"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("", include(router.urls)),
    # Last: anything else ending in a slash (others get APPEND_SLASH's redirect first).
    re_path(r"^[\s\S]*/$", views.NotFoundView.as_view()),
]
