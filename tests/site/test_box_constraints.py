"""The box kept with a pending photo and a sighting: the database refuses every inconsistent box
(the check constraints, written straight to the table), the model validation says the same, and
the CSV export carries the box."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from classifier.models import PendingPhoto, Sighting

pytestmark = pytest.mark.django_db

GOOD = {
    "box_x": 10,
    "box_y": 20,
    "box_width": 300,
    "box_height": 300,
    "box_source": "person",
    "photo_width": 640,
    "photo_height": 480,
}
BAD = {
    "one_side_missing": {"box_height": None},
    "only_position": {"box_width": None, "box_height": None},
    "width_below_16": {"box_width": 15},
    "height_below_16": {"box_height": 8},
    "zero_side": {"box_width": 0},
    "negative_x": {"box_x": -1},
    "negative_y": {"box_y": -5},
    "beyond_the_right_edge": {"box_x": 341},
    "beyond_the_bottom": {"box_y": 181},
    "box_without_photo_size": {"photo_width": None, "photo_height": None},
    "half_a_photo_size": {"photo_height": None},
    "zero_photo_size": {"photo_width": 0},
    "unknown_source": {"box_source": "guess"},
    "person_without_box": {
        "box_x": None,
        "box_y": None,
        "box_width": None,
        "box_height": None,
    },
    "finder_without_box": {
        "box_x": None,
        "box_y": None,
        "box_width": None,
        "box_height": None,
        "box_source": "finder",
    },
}


@pytest.fixture(params=["pending", "sighting"])
def row(request, make_pending, make_sighting, user):
    if request.param == "pending":
        return make_pending(owner=user)
    return make_sighting(owner=user)


def test_a_consistent_box_is_stored(row) -> None:
    model = type(row)
    model.objects.filter(pk=row.pk).update(**GOOD)
    row.refresh_from_db()
    assert row.box == (10, 20, 300, 300) and row.photo_size == (640, 480)
    row.full_clean(exclude=["photo"])
    # Exactly on the edges, and the whole photo: still inside.
    model.objects.filter(pk=row.pk).update(box_x=340, box_y=180)
    model.objects.filter(pk=row.pk).update(
        box_x=0, box_y=0, box_width=640, box_height=480, box_source="full"
    )
    # No box at all (a photo smaller than a box, or a row from before boxes) is allowed.
    model.objects.filter(pk=row.pk).update(
        box_x=None, box_y=None, box_width=None, box_height=None, box_source="full"
    )


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_database_refuses_an_inconsistent_box(row, case) -> None:
    model = type(row)
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=row.pk).update(**{**GOOD, **BAD[case]})
    row.refresh_from_db()
    assert row.box is None  # unchanged


@pytest.mark.parametrize("case", ["width_below_16", "beyond_the_right_edge", "unknown_source"])
def test_model_validation_refuses_it_too(row, case) -> None:
    for name, value in {**GOOD, **BAD[case]}.items():
        setattr(row, name, value)
    with pytest.raises(ValidationError):
        row.full_clean(exclude=["photo"])


def test_the_sighting_keeps_the_pending_photos_box(make_pending, user, species) -> None:
    from django.utils import timezone

    from classifier.services import sightings

    pending = make_pending(owner=user)
    PendingPhoto.objects.filter(pk=pending.pk).update(**GOOD)
    pending.refresh_from_db()
    sighting = sightings.save_pending_photo(
        pending=pending, owner=user, species=species[0], observed_at=timezone.now()
    )
    sighting.refresh_from_db()
    assert sighting.box == (10, 20, 300, 300) and sighting.box_source == "person"
    assert sighting.photo_size == (640, 480)


def test_csv_export_has_the_box(alice, user, make_sighting) -> None:
    boxed = make_sighting(owner=user)
    Sighting.objects.filter(pk=boxed.pk).update(**GOOD)
    plain = make_sighting(owner=user)

    response = alice.get(reverse("classifier:sighting_export"))

    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(response.content.decode()))}
    got = rows[boxed.pk]
    assert [got[k] for k in ("box_x", "box_y", "box_width", "box_height")] == [
        "10",
        "20",
        "300",
        "300",
    ]
    assert got["box_source"] == "person"
    assert (got["photo_width"], got["photo_height"]) == ("640", "480")
    empty = rows[plain.pk]
    assert empty["box_x"] == "" and empty["box_source"] == "full" and empty["photo_width"] == ""


def test_the_sighting_page_draws_the_box_without_inline_style(alice, user, make_sighting) -> None:
    sighting = make_sighting(owner=user)
    Sighting.objects.filter(pk=sighting.pk).update(**GOOD)

    html = alice.get(reverse("classifier:sighting_detail", args=[sighting.pk])).content.decode()

    assert 'viewBox="0 0 640 480"' in html
    assert 'x="10" y="20" width="300" height="300"' in html
    assert "the part you chose" in html
    assert "style=" not in html and "<script>" not in html
