"""The gallery: fill the species catalogue and its sample photos from a data set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils.text import slugify

from classifier.models import Species, SpeciesPhoto
from core.storage import files_removed_on_failure, store_file
from ml.data import read_dataset


@dataclass(frozen=True)
class LoadSpeciesReport:
    created: int
    updated: int
    unchanged: int
    photos_added: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def load_species(*, data_dir: Path, photos_per_species: int = 3) -> LoadSpeciesReport:
    """Fill the gallery from a BIRDS-525-layout data set; re-running updates, never duplicates.

    Each species gets up to `photos_per_species` sample photos (copied to media storage under
    random keys); photos already copied are recognised by their path in the data set.
    """
    dataset = read_dataset(data_dir)
    samples_by_species: dict[str, list] = {}
    for split in ("train", "valid", "test"):
        for sample in dataset.samples(split):
            samples_by_species.setdefault(sample.species, []).append(sample)
    existing = {s.name: s for s in Species.objects.prefetch_related("photos")}
    created = updated = unchanged = photos_added = 0
    with files_removed_on_failure() as stored, transaction.atomic():
        for name in dataset.species:
            scientific_name = dataset.scientific_names.get(name, "").strip().capitalize()
            species = existing.get(name)
            if species is None:
                species = Species.objects.create(
                    name=name, scientific_name=scientific_name, slug=_unique_slug(name)
                )
                created += 1
            elif scientific_name and species.scientific_name != scientific_name:
                species.scientific_name = scientific_name
                species.save(update_fields=["scientific_name", "updated_at"])
                updated += 1
            else:
                unchanged += 1
            photos_added += _add_sample_photos(
                species=species,
                samples=samples_by_species.get(name, []),
                root=dataset.root,
                wanted=photos_per_species,
                stored=stored,
            )
    return LoadSpeciesReport(
        created=created, updated=updated, unchanged=unchanged, photos_added=photos_added
    )


def _unique_slug(name: str) -> str:
    base = slugify(name)[:130] or "species"
    slug, number = base, 2
    while Species.objects.filter(slug=slug).exists():
        slug, number = f"{base}-{number}", number + 1
    return slug


def _add_sample_photos(
    *, species: Species, samples: list, root: Path, wanted: int, stored: list[FieldFile]
) -> int:
    have = {p.source_name for p in species.photos.all()}
    missing = wanted - len(have)
    added = 0
    for sample in samples:
        if added >= missing:
            break
        source_name = sample.path.relative_to(root).as_posix()
        if source_name in have:
            continue
        photo = SpeciesPhoto(species=species, source_name=source_name, position=len(have) + added)
        store_file(
            stored=stored,
            field_file=photo.image,
            name=sample.path.name,
            content=sample.path.read_bytes(),
        )
        photo.save()
        added += 1
    return added
