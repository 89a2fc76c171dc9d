"""Site pages of the classifier app (the identify page itself is the site's `home`)."""

from django.urls import path, re_path

from classifier import views

app_name = "classifier"

urlpatterns = [
    path("identify/<uuid:pk>/", views.pending_photo, name="pending_photo"),
    path(
        "identify/<uuid:pk>/box/", views.reidentify_pending_photo, name="reidentify_pending_photo"
    ),
    path("identify/<uuid:pk>/discard/", views.discard_pending_photo, name="discard_pending_photo"),
    path("about/", views.about, name="about"),
    path("species/", views.species_list, name="species_list"),
    path("species/<slug:slug>/", views.species_detail, name="species_detail"),
    path("sightings/", views.sighting_list, name="sighting_list"),
    path("sightings/export.csv", views.sighting_export, name="sighting_export"),
    path("sightings/life-list/", views.life_list_page, name="life_list"),
    path("sightings/ebird.csv", views.sighting_ebird_export, name="sighting_ebird_export"),
    path("sightings/<int:pk>/", views.sighting_detail, name="sighting_detail"),
    path("sightings/<int:pk>/edit/", views.sighting_edit, name="sighting_edit"),
    path("sightings/<int:pk>/delete/", views.sighting_delete, name="sighting_delete"),
    re_path(r"^media/(?P<path>.+)$", views.media_file, name="media_file"),
]
