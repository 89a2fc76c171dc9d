"""Identification services that need no model: claiming a visitor's photos."""

from __future__ import annotations

import pytest

from classifier.services.identification import claim_pending_photos

pytestmark = pytest.mark.django_db


def test_claiming_gives_only_unowned_photos_to_the_account(user, other_user, make_pending):
    unowned, owned = make_pending(), make_pending(owner=other_user)
    ids = [str(unowned.pk), str(owned.pk), "garbage", ""]
    assert claim_pending_photos(owner=user, pending_ids=ids) == 1
    unowned.refresh_from_db()
    owned.refresh_from_db()
    assert (unowned.owner, owned.owner) == (user, other_user)
    assert claim_pending_photos(owner=user, pending_ids=[]) == 0


def test_suggestions_read_the_catalogue_once_and_see_its_changes(django_assert_num_queries):
    from classifier.models import Species
    from classifier.selectors.identification import suggestions_with_species

    eagle = Species.objects.create(name="BALD EAGLE", slug="bald-eagle")
    stored = [
        {"species": "BALD EAGLE", "probability": 0.9},
        {"species": "GONE", "probability": 0.1},
    ]
    with django_assert_num_queries(2):  # the species and their photos, once
        first = suggestions_with_species(suggestions=stored)
    with django_assert_num_queries(0):  # every later answer of this worker
        again = suggestions_with_species(suggestions=stored)
    assert [s.species for s in first] == [s.species for s in again] == [eagle, None]
    eagle.scientific_name = "Haliaeetus leucocephalus"
    eagle.save()  # a change made here is seen at the next answer
    (joined, _) = suggestions_with_species(suggestions=stored)
    assert joined.species.scientific_name == "Haliaeetus leucocephalus"
