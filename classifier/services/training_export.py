"""Training data from people's sightings: the photos they agreed to share, as a data set folder.

Which sightings are exported: those whose owner turned on `share_photos_for_training` AND whose
`species` is set. A sighting's species is only ever set by its owner: the site's form (the
classifier's top suggestion is preselected, and saving it is the person's confirmation), the
API's `species` or an edit. The classifier's `suggestions` and `verdict` never set it, so a set
species is one the person chose or confirmed, whatever the verdict was; null means "I don't
know" and is left out.

Each photo is the stored copy (EXIF-free, see classifier.uploads), cut to the box it was
identified on when there is one, in the BIRDS-525 layout `ml.data.read_dataset` reads:
`<out>/train/<Species.name>/sighting-<id>.jpg` plus `<out>/birds.csv`. File names carry the
sighting's id only, never a person's name.
"""

from __future__ import annotations

import datetime
import io
import shutil
from collections import Counter
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from django.utils import timezone

from classifier.models import Sighting
from classifier.uploads import STORED_JPEG_QUALITY
from core.storage import read_file
from ml import atomic, console, images
from ml.data import CSV_NAME, Sample, write_birds_csv

SPLIT = "train"

NO_CONSENT = "no consent"
NO_SPECIES = "species not chosen or confirmed"
BEFORE_SINCE = "before --since"
MISSING = "photo missing from storage"
UNREADABLE = "stored photo unreadable"


def too_few(min_per_species: int) -> str:
    """The skip reason of photos whose species has fewer than `min_per_species` of them."""
    return f"fewer than {min_per_species} photos of the species"


class TrainingExportError(ValueError):
    """The export cannot start (nothing was written); the message says why."""


@dataclass(frozen=True)
class ExportReport:
    """What `export_training_data` wrote, and how many sightings it left out for each reason."""

    out_dir: Path
    photos: int  # photos written
    species: int  # species folders written
    skipped: dict[str, int]  # reason -> number of sightings

    def summary_lines(self) -> list[str]:
        lines = [
            f"Wrote {self.photos} photo{'s' if self.photos != 1 else ''} of {self.species} "
            f"species to {self.out_dir}."
        ]
        lines += [
            f"Skipped {count} sighting{'s' if count != 1 else ''}: {reason}."
            for reason, count in self.skipped.items()
        ]
        return lines


def export_training_data(
    *,
    out_dir: Path,
    since: datetime.date | None = None,
    min_per_species: int = 1,
    progress: bool = False,
) -> ExportReport:
    """Write the shared, confirmed sightings' photos into `out_dir` (see the module docstring).

    `since` keeps sightings RECORDED (`created_at`, in the site's time zone) on or after that day,
    which is what "new since the last training" means; `observed_at` may lie years back. Species
    with fewer than `min_per_species` exportable photos are left out. The folder is built beside
    `out_dir` and renamed into place at the end, so a failure (storage down...) leaves nothing;
    raises `TrainingExportError` when `out_dir` exists and is not empty.
    """
    if min_per_species < 1:
        raise TrainingExportError("The minimum number of photos per species must be at least 1.")
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise TrainingExportError(f"{out_dir} exists and is not an empty folder: choose a new one.")
    candidates, skipped = _candidates(since=since)
    with atomic.staging_dir(parent=out_dir.parent) as staged:
        samples = _write_photos(
            candidates,
            dest=staged,
            min_per_species=min_per_species,
            skipped=skipped,
            show=progress,
        )
        (staged / SPLIT).mkdir(exist_ok=True)
        scientific = {s.species.name: s.species.scientific_name for s in candidates}
        write_birds_csv(staged / CSV_NAME, samples, scientific_names=scientific)
        atomic.swap_in(staged=staged, target=out_dir)  # an empty `out_dir` is replaced
    return ExportReport(
        out_dir=out_dir,
        photos=len(samples),
        species=len({s.species for s in samples}),
        skipped={reason: count for reason, count in skipped.items() if count},
    )


def _candidates(*, since: datetime.date | None) -> tuple[list[Sighting], Counter]:
    """The sightings to export (by species name, then id) and the counts of those left out."""
    skipped: Counter = Counter()
    sightings = Sighting.objects.all()
    skipped[NO_CONSENT] = sightings.filter(owner__share_photos_for_training=False).count()
    shared = sightings.filter(owner__share_photos_for_training=True)
    skipped[NO_SPECIES] = shared.filter(species__isnull=True).count()
    confirmed = shared.filter(species__isnull=False)
    if since is not None:
        start = timezone.make_aware(datetime.datetime.combine(since, datetime.time.min))
        skipped[BEFORE_SINCE] = confirmed.filter(created_at__lt=start).count()
        confirmed = confirmed.filter(created_at__gte=start)
    return list(confirmed.select_related("species").order_by("species__name", "pk")), skipped


def _write_photos(
    candidates: list[Sighting],
    *,
    dest: Path,
    min_per_species: int,
    skipped: Counter,
    show: bool,
) -> list[Sample]:
    """Write each species' photos; a species that ends up short is removed again (its photos
    are only known to be readable once read)."""
    groups = [
        (name, list(group)) for name, group in groupby(candidates, key=lambda s: s.species.name)
    ]
    few = too_few(min_per_species)
    for _, group in groups:
        if len(group) < min_per_species:
            skipped[few] += len(group)
    groups = [(name, group) for name, group in groups if len(group) >= min_per_species]
    samples: list[Sample] = []
    with console.progress(
        total=sum(len(group) for _, group in groups),
        desc="export",
        unit="photo",
        disable=not show,
    ) as bar:
        for name, group in groups:
            folder = dest / SPLIT / name
            folder.mkdir(parents=True)
            written = []
            for sighting in group:
                path = folder / f"sighting-{sighting.pk}.jpg"
                reason = _write_photo(sighting, path=path)
                if reason:
                    skipped[reason] += 1
                else:
                    written.append(Sample(path, name, SPLIT))
                bar.update()
            if len(written) < min_per_species:
                shutil.rmtree(folder)
                skipped[few] += len(written)
            else:
                samples += written
    return samples


def _write_photo(sighting: Sighting, *, path: Path) -> str | None:
    """Write the sighting's training photo to `path`; the skip reason when it cannot be read."""
    try:
        data = read_file(sighting.photo)
    except FileNotFoundError:
        return MISSING
    try:
        content = _cut_to_box(data, sighting=sighting)
    except (images.ImageRejected, OSError):  # not an image, or truncated
        return UNREADABLE
    path.write_bytes(content)
    return None


def _cut_to_box(data: bytes, *, sighting: Sighting) -> bytes:
    """The stored copy cut to the sighting's box; the copy as it is without one (the whole
    photo was used)."""
    stored = images.open_image(data)  # the header: refuses what is no image
    if sighting.box is None:
        return data
    # the box is in pixels of the ORIGINAL photo; the stored copy may be smaller
    cut = images.crop_box(stored, sighting.box, scale=stored.width / sighting.photo_width)
    buffer = io.BytesIO()
    images.to_rgb(cut).save(buffer, format="JPEG", quality=STORED_JPEG_QUALITY)
    return buffer.getvalue()
