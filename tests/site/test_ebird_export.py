"""The eBird export (/sightings/ebird.csv): eBird's 19 columns in order, its date and time formats,
the name rules on the real BIRDS-525 catalogue, counts, quoting, filters and owner isolation."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.urls import reverse

from classifier.ebird import EBIRD_COLUMNS, SKIPPED_HEADER, ebird_names
from classifier.models import Species
from classifier.services import gallery
from ml.data import read_dataset
from tests.site.conftest import utc as at

pytestmark = pytest.mark.django_db
URL = reverse("classifier:sighting_ebird_export")


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="birdsite-ebird-')
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


@pytest.fixture
def real_catalogue(shared_data: Path) -> dict[str, Species]:
    """The 525 species of the real birds.csv, as the site loads them (no photos needed here)."""
    gallery.load_species(data_dir=shared_data / "birds525", photos_per_species=0)
    return {species.name: species for species in Species.objects.all()}


def test_a_row_has_ebirds_19_columns_in_order_and_no_header(alice, user, make_sighting) -> None:
    make_sighting(owner=user, observed_at=at("2024-05-04T07:30:00"), count=3, notes="On the fence.")

    rows = rows_of(alice.get(URL))

    assert len(EBIRD_COLUMNS) == 19
    assert EBIRD_COLUMNS[:4] == ("Common Name", "Genus", "Species", "Number")
    assert EBIRD_COLUMNS[8:10] == ("Date", "Start Time")
    assert EBIRD_COLUMNS[-1] == "Checklist Comments"
    assert rows == [
        [
            "Abbotts Babbler",  # common name, title case
            "Malacocincla",  # genus
            "abbotti",  # species
            "3",  # number
            "On the fence.",  # species comments
            "Tiergarten",  # location name
            "52.516312",  # latitude
            "13.377734",  # longitude
            "05/04/2024",  # date, MM/DD/YYYY
            "07:30",  # start time, 24-hour HH:MM
            "",  # state/province
            "",  # country code
            "Incidental",  # protocol
            "",  # number of observers
            "",  # duration
            "N",  # all observations reported
            "",  # effort distance
            "",  # effort area
            "",  # checklist comments
        ]
    ]
    assert alice.get(URL).content.endswith(b"\r\n")


def test_date_and_time_are_the_sites_local_ones_zero_padded(
    settings, alice, user, make_sighting
) -> None:
    settings.TIME_ZONE = "America/New_York"  # UTC-4 in summer
    make_sighting(owner=user, observed_at=at("2024-07-01T02:05:00"))
    make_sighting(
        owner=user,
        observed_at=at("2024-12-31T23:59:00"),
        place_name="",
        latitude=None,
        longitude=None,
    )

    rows = rows_of(alice.get(URL))

    assert [(row[8], row[9]) for row in rows] == [("06/30/2024", "22:05"), ("12/31/2024", "18:59")]
    assert rows[1][5:8] == ["", "", ""]  # no place: eBird's import asks for one


def test_names_follow_the_rules_on_the_real_catalogue(real_catalogue, shared_data: Path) -> None:
    dataset = read_dataset(shared_data / "birds525")
    not_binomial = {
        name for name, latin in dataset.scientific_names.items() if len(latin.split()) != 2
    }
    names = {name: ebird_names(species=species) for name, species in real_catalogue.items()}

    assert len(names) == 525
    assert len(not_binomial) == 25
    assert {name for name, parts in names.items() if not parts.genus} == not_binomial
    assert all(parts.common_name for parts in names.values())
    # A family, a genus, a domestic form and a subspecies: the common name alone.
    for name, common_name in (
        ("ALBATROSS", "Albatross"),  # DIOMEDEIDAE
        ("CROW", "Crow"),  # CORVUS
        ("FRILL BACK PIGEON", "Frill Back Pigeon"),  # COLUMBA LIVIA DOMESTICA
        ("MASKED BOBWHITE", "Masked Bobwhite"),  # COLINUS VIRGINIANUS RIDGWAYI
    ):
        assert names[name] == (common_name, "", ""), name
    # Binomials: genus capitalised, species in lower case; eBird's hyphenated title case; the
    # catalogue's spelling kept (no apostrophe guessed, no misspelling corrected).
    assert names["BALD EAGLE"] == ("Bald Eagle", "Haliaeetus", "leucocephalus")
    assert names["BLACK-CAPPED CHICKADEE"] == ("Black-capped Chickadee", "Poecile", "atricapillus")
    assert names["CARMINE BEE-EATER"][0] == "Carmine Bee-eater"
    assert names["ABBOTTS BABBLER"][0] == "Abbotts Babbler"
    assert names["BROWN CREPPER"][0] == "Brown Crepper"
    # birds.csv writes IWI's name " VESTIARIA COCCINEA." (a space before, a full stop after).
    assert names["IWI"] == ("Iwi", "Vestiaria", "coccinea")


def test_a_non_binomial_species_exports_its_common_name_alone(
    real_catalogue, alice, user, make_sighting
) -> None:
    make_sighting(owner=user, of=real_catalogue["CROW"])
    make_sighting(owner=user, of=real_catalogue["COCKATOO"], count=2)

    rows = rows_of(alice.get(URL))

    assert sorted(row[:4] for row in rows) == [["Cockatoo", "", "", "2"], ["Crow", "", "", "X"]]
    assert all(len(row) == 19 for row in rows)


def test_count_is_x_unless_one_was_recorded(alice, user, make_sighting) -> None:
    make_sighting(owner=user, observed_at=at("2024-05-01T08:00:00"))
    make_sighting(owner=user, observed_at=at("2024-05-02T08:00:00"), count=1)
    make_sighting(owner=user, observed_at=at("2024-05-03T08:00:00"), count=140)

    assert [row[3] for row in rows_of(alice.get(URL))] == ["X", "1", "140"]


def test_commas_quotes_and_line_breaks_in_notes_are_quoted(alice, user, make_sighting) -> None:
    notes = 'Two, maybe three; one "singing"\nnear the gate'
    make_sighting(owner=user, notes=notes, place_name='Lake "North", east shore')

    response = alice.get(URL)
    rows = rows_of(response)

    assert rows[0][4] == 'Two, maybe three; one "singing" near the gate'
    assert rows[0][5] == 'Lake "North", east shore'
    raw = response.content.decode()
    assert '"Two, maybe three; one ""singing"" near the gate"' in raw
    assert raw.count("\r\n") == 1  # one record, one line


def test_the_filters_of_my_sightings_apply(alice, user, species, make_sighting) -> None:
    make_sighting(owner=user, observed_at=at("2024-03-01T08:00:00"))
    make_sighting(owner=user, observed_at=at("2024-04-01T08:00:00"))
    make_sighting(owner=user, species_index=1, observed_at=at("2024-04-02T08:00:00"))

    by_species = rows_of(alice.get(URL, {"species": "bald eagle"}))
    by_dates = rows_of(alice.get(URL, {"date_from": "2024-03-15", "date_to": "2024-04-01"}))

    assert [row[0] for row in by_species] == ["Bald Eagle"]
    assert [(row[0], row[8]) for row in by_dates] == [("Abbotts Babbler", "04/01/2024")]
    listed = alice.get(reverse("classifier:sighting_list"), {"species": "bald eagle"})
    assert f'{URL}?species=bald+eagle"' in listed.content.decode()


def test_a_bad_filter_is_a_400_naming_it(alice, user, make_sighting) -> None:
    make_sighting(owner=user)

    unknown = alice.get(URL, {"species": "dodo"})
    backwards = alice.get(URL, {"date_from": "2024-05-02", "date_to": "2024-05-01"})

    assert unknown.status_code == 400 and "Species: No species of that name." in unknown.text
    assert backwards.status_code == 400 and "end date is before the start date" in backwards.text


def test_only_my_identified_sightings_and_the_unknown_ones_are_counted(
    alice, bob, user, other_user, make_sighting
) -> None:
    make_sighting(owner=user)
    make_sighting(owner=user, species_index=None)
    make_sighting(owner=user, species_index=None)
    make_sighting(owner=other_user, species_index=2, notes="Bob's owl")
    make_sighting(owner=other_user, species_index=2, visibility="public")

    mine = alice.get(URL)
    bobs = bob.get(URL)

    assert [row[0] for row in rows_of(mine)] == ["Abbotts Babbler"]
    assert mine[SKIPPED_HEADER] == "2"
    assert [row[0] for row in rows_of(bobs)] == ["Barn Owl", "Barn Owl"]
    assert bobs[SKIPPED_HEADER] == "0"


def test_export_needs_login(client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
