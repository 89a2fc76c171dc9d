"""The person's sightings in eBird's "eBird Record Format (Extended)", for eBird's import tool.

The one owner of the format: the column list, how a sighting becomes a row, and the CSV writer
that the site's page and the API both use. The rules, and the eBird documents they rest on, are
in docs/architecture.md ("Life list and eBird export").
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from django.http import HttpResponse
from django.utils import timezone

from accounts.models import User
from classifier.models import Sighting, Species
from classifier.selectors.sightings import sightings_for_owner

# eBird's 19 columns, in eBird's order (the file itself carries no header row).
EBIRD_COLUMNS = (
    "Common Name",
    "Genus",
    "Species",
    "Number",
    "Species Comments",
    "Location Name",
    "Latitude",
    "Longitude",
    "Date",
    "Start Time",
    "State/Province",
    "Country Code",
    "Protocol",
    "Number of Observers",
    "Duration",
    "All observations reported?",
    "Effort Distance Miles",
    "Effort area acres",
    "Checklist Comments",
)
PROTOCOL = "Incidental"
NOT_COUNTED = "X"  # eBird's "present, not counted"
# A photo is one record, never a complete list of everything seen.
ALL_OBSERVATIONS_REPORTED = "N"
# The answer header naming how many unknown birds were left out (eBird needs a species).
SKIPPED_HEADER = "X-Ebird-Skipped-Unknown"
FILENAME = "birdsite-ebird-{stamp}.csv"

_WORD = re.compile(r"[A-Za-z]+")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


class EbirdNames(NamedTuple):
    common_name: str
    genus: str
    species: str


@dataclass(frozen=True)
class EbirdExport:
    """The CSV text, how many sightings it holds and how many unknown birds it left out."""

    text: str
    exported: int
    skipped_unknown: int


def ebird_names(*, species: Species) -> EbirdNames:
    """Common name in eBird's title case (each word capitalised, a hyphenated word's second part
    in lower case: "Black-capped Chickadee"); genus and species only from a binomial scientific
    name. A family, a genus alone or a three-part name (subspecies, domestic form) leaves them
    empty, which eBird allows when the common name is given."""
    common_name = " ".join(word.capitalize() for word in species.name.split())
    words = species.scientific_name.strip().removesuffix(".").split()
    if len(words) == 2 and all(_WORD.fullmatch(word) for word in words):
        return EbirdNames(common_name, words[0].capitalize(), words[1].lower())
    return EbirdNames(common_name, "", "")


def ebird_row(*, sighting: Sighting) -> tuple[str, ...]:
    """One identified sighting as a row of `EBIRD_COLUMNS` (date and time in the site's zone)."""
    names = ebird_names(species=sighting.species)
    seen = timezone.localtime(sighting.observed_at)
    return (
        names.common_name,
        names.genus,
        names.species,
        NOT_COUNTED if sighting.count is None else str(sighting.count),
        _LINE_BREAKS.sub(" ", sighting.notes).strip(),
        sighting.place_name,
        "" if sighting.latitude is None else str(sighting.latitude),
        "" if sighting.longitude is None else str(sighting.longitude),
        f"{seen:%m/%d/%Y}",
        f"{seen:%H:%M}",
        "",  # state/province: eBird's location matching fills it in
        "",  # country code: likewise
        PROTOCOL,
        "",  # number of observers: not recorded
        "",  # duration: not recorded (Incidental needs none)
        ALL_OBSERVATIONS_REPORTED,
        "",  # effort distance
        "",  # effort area
        "",  # checklist comments
    )


def ebird_export(
    *,
    owner: User,
    species: Species | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> EbirdExport:
    """The owner's sightings (filtered as on My sightings), oldest first, as eBird CSV: UTF-8,
    no header row, fields quoted only where a comma, quote or line break needs it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    exported = skipped = 0
    log = sightings_for_owner(
        owner=owner, species=species, date_from=date_from, date_to=date_to
    ).order_by("observed_at", "id")
    for sighting in log:
        if sighting.species is None:
            skipped += 1
            continue
        writer.writerow(ebird_row(sighting=sighting))
        exported += 1
    return EbirdExport(text=out.getvalue(), exported=exported, skipped_unknown=skipped)


def ebird_response(*, export: EbirdExport) -> HttpResponse:
    """The download, the same from the site and the API; `SKIPPED_HEADER` says how many unknown
    birds it left out."""
    response = HttpResponse(export.text, content_type="text/csv; charset=utf-8")
    filename = FILENAME.format(stamp=timezone.localdate().isoformat())
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response[SKIPPED_HEADER] = str(export.skipped_unknown)
    return response
