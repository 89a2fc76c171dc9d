"""`/api/v1/`: token auth, your account, predict, sightings (and their eBird file), the life list,
species, and the OpenAPI schema with its docs."""

from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import DefaultRouter

from classifier.api import views

app_name = "api"

# The docs pages are served from our templates with the packages' own assets (no CDN, no inline
# code: Swagger UI's start script is a second request to the same view). Their bundles need a
# little more than the site's policy: Swagger UI draws icons from `data:` URLs; ReDoc runs its
# search in a `blob:` worker and styles its page with injected style elements.
swagger_ui = csp_update({"img-src": ["data:"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html")
)
redoc = csp_update(
    {"worker-src": ["blob:"], "style-src": ["'unsafe-inline'"], "img-src": ["data:"]}
)(SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html"))

router = DefaultRouter()
router.register("sightings", views.SightingViewSet, basename="sighting")
router.register("species", views.SpeciesViewSet, basename="species")

urlpatterns = [
    path("auth/token/", views.AuthTokenView.as_view(), name="auth-token"),
    path("predict/", views.PredictView.as_view(), name="predict"),
    path("me/", views.AccountView.as_view(), name="account"),
    path("me/life-list/", views.LifeListView.as_view(), name="life-list"),
    path("sightings/ebird.csv", views.EbirdExportView.as_view(), name="sighting-ebird"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", swagger_ui, name="docs"),
    path("redoc/", redoc, name="redoc"),
    path("", include(router.urls)),
    # Last: anything else ending in a slash (others get APPEND_SLASH's redirect first).
    re_path(r"^[\s\S]*/$", views.NotFoundView.as_view()),
]
