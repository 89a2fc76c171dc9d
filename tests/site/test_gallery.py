"""Species gallery, load_species, the identify page's errors and the site without a model."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse

from classifier.models import PendingPhoto, Sighting, Species, SpeciesPhoto, Visibility
from classifier.views import SPECIES_PER_PAGE

pytestmark = pytest.mark.django_db


def test_load_species_fills_525_species_and_is_idempotent(shared_data: Path) -> None:
    out = io.StringIO()
    call_command(
        "load_species", "--data", str(shared_data / "birds525"), "--photos", "2", stdout=out
    )
    assert "525 created" in out.getvalue()
    assert Species.objects.count() == 525
    assert not Species.objects.filter(scientific_name="").exists()
    eagle = Species.objects.get(name="BALD EAGLE")
    assert eagle.scientific_name == "Haliaeetus leucocephalus"
    assert eagle.photos.count() == 2
    assert all(default_storage.exists(p.image.name) for p in eagle.photos.all())
    assert not any(p.source_name in p.image.name for p in eagle.photos.all())  # random keys

    call_command(
        "load_species", "--data", str(shared_data / "birds525"), "--photos", "3", stdout=out
    )
    assert Species.objects.count() == 525
    assert SpeciesPhoto.objects.count() == 525 * 3


def test_load_species_refuses_a_folder_without_photos(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="No photos found"):
        call_command("load_species", "--data", str(tmp_path), stdout=io.StringIO())
    assert not Species.objects.exists()


def test_gallery_search_by_common_and_scientific_name(client, catalogue) -> None:
    url = reverse("classifier:species_list")
    names = [s.name for s in client.get(url, {"q": "eagle"}).context["page"].object_list]
    assert "BALD EAGLE" in names and all("EAGLE" in n for n in names)
    latin = client.get(url, {"q": "tyto alba"}).context["page"].object_list
    assert [s.name for s in latin] == ["BARN OWL"]


def test_gallery_is_paginated(client, catalogue) -> None:
    url = reverse("classifier:species_list")
    first = client.get(url)
    assert len(first.context["page"].object_list) == SPECIES_PER_PAGE
    assert first.context["page"].paginator.num_pages == -(-525 // SPECIES_PER_PAGE)
    last = client.get(url, {"page": 999}).context["page"]
    assert last.number == last.paginator.num_pages


def test_species_page_counts_sightings_and_lists_only_public_ones(
    client, user, make_sighting, species
) -> None:
    public = make_sighting(owner=user, visibility=Visibility.PUBLIC, place_name="Public pond")
    make_sighting(owner=user, place_name="Secret garden")

    page = client.get(reverse("classifier:species_detail", args=[species[0].slug]))

    assert page.context["species"].sighting_count == 2
    assert list(page.context["sightings"]) == [public]
    html = page.content.decode()
    assert "Public pond" in html and "Secret garden" not in html


def test_upload_over_the_limit_gets_a_413_page(client, settings, bird_photo: Path) -> None:
    settings.MAX_UPLOAD_BYTES = 1024
    with bird_photo.open("rb") as photo:
        response = client.post(reverse("home"), {"photo": photo})
    assert response.status_code == 413
    assert "larger than" in response.content.decode()
    assert not PendingPhoto.objects.exists()


def test_not_an_image_gets_a_415_page_and_nothing_is_stored(client, settings) -> None:
    fake = io.BytesIO(b"%PDF-1.4 definitely not a bird")
    fake.name = "bird.jpg"
    response = client.post(reverse("home"), {"photo": fake})
    assert response.status_code == 415
    assert "not a supported image" in response.content.decode()
    assert not PendingPhoto.objects.exists()
    assert not Path(settings.MEDIA_ROOT).exists() or not any(Path(settings.MEDIA_ROOT).rglob("*.*"))


def test_without_a_model_identify_says_unavailable_and_the_site_works(
    client, alice, no_active_model, bird_photo: Path, species
) -> None:
    home = client.get(reverse("home"))
    assert home.status_code == 200 and "classifier is unavailable" in home.content.decode()
    with bird_photo.open("rb") as photo:
        assert client.post(reverse("home"), {"photo": photo}).status_code == 503
    assert not PendingPhoto.objects.exists()
    assert "unavailable" in client.get(reverse("classifier:about")).content.decode()
    assert client.get(reverse("classifier:species_list")).status_code == 200
    assert alice.get(reverse("classifier:sighting_list")).status_code == 200
    assert not Sighting.objects.exists()


def test_navigation_marks_the_current_page(client) -> None:
    html = client.get(reverse("classifier:species_list")).content.decode()
    assert f'href="{reverse("classifier:species_list")}" aria-current="page"' in html
    assert html.count('aria-current="page"') == 1
