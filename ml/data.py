"""Reading photo collections in the BIRDS-525 layout, and balanced subsampling of them.

Layout: `<root>/{train,valid,test}/<SPECIES NAME>/*.jpg` plus an optional `birds.csv`
(`class id, filepaths, labels, data set, scientific name`). Species are identified by their
folder NAME (class ids differ between versions of the data set). A folder of species folders
without split folders is read as a `train` split. A field folder (full-size photos) adds
`boxes.csv` (`filepaths, x, y, width, height`: the bird's box in pixels of the upright photo,
paths relative to the folder).
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ml.finder import Box

SPLITS = ("train", "valid", "test")
IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".heic",
    ".heif",
}
CSV_NAME = "birds.csv"
BOXES_CSV = "boxes.csv"
CSV_COLUMNS = ["class id", "filepaths", "labels", "data set", "scientific name"]


class DatasetError(ValueError):
    """A folder that cannot be used as a data set; the message says why."""


@dataclass(frozen=True)
class Sample:
    """One photo of one species in one split."""

    path: Path
    species: str
    split: str


@dataclass
class Dataset:
    """All photos of a collection, by split; `species` is sorted (the label order)."""

    root: Path
    species: list[str]
    scientific_names: dict[str, str]
    splits: dict[str, list[Sample]] = field(default_factory=dict)

    def samples(self, split: str) -> list[Sample]:
        return self.splits.get(split, [])

    def counts(self, split: str) -> dict[str, int]:
        """Photos per species in a split (species without photos included, as 0)."""
        counter = Counter(s.species for s in self.samples(split))
        return {name: counter.get(name, 0) for name in self.species}


def read_dataset(root: str | os.PathLike, species: list[str] | None = None) -> Dataset:
    """List the photos of a data set folder (files are not opened here: see ml.features)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"Data set folder not found: {root}")
    split_dirs = {s: root / s for s in SPLITS if (root / s).is_dir()}
    if not split_dirs:
        split_dirs = {"train": root}
    splits = {split: _scan_split(folder, split) for split, folder in split_dirs.items()}
    splits = {split: samples for split, samples in splits.items() if samples}
    if not splits:
        raise DatasetError(
            f"No photos found in {root}: expected train/valid/test/<SPECIES>/*.jpg "
            "or <SPECIES>/*.jpg"
        )
    names = sorted({s.species for samples in splits.values() for s in samples})
    if species is not None:
        unknown = sorted(set(species) - set(names))
        if unknown:
            raise DatasetError(f"Species not in {root}: {', '.join(unknown[:5])}")
        keep = set(species)
        names = sorted(keep)
        splits = {k: [s for s in v if s.species in keep] for k, v in splits.items()}
    return Dataset(root, names, _scientific_names(root / CSV_NAME), splits)


def _scan_split(folder: Path, split: str) -> list[Sample]:
    samples = []
    for species_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(species_dir.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                samples.append(Sample(path, species_dir.name, split))
    return samples


def _scientific_names(csv_path: Path) -> dict[str, str]:
    """Species name -> scientific name, keyed by both the label and the folder of each row
    (they differ for a few species in some versions of the Kaggle file)."""
    if not csv_path.is_file():
        return {}
    names: dict[str, str] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            scientific = (row.get("scientific name") or "").strip()
            if not scientific:
                continue
            folder = Path((row.get("filepaths") or "").replace("\\", "/")).parent.name
            for key in (row.get("labels") or "", folder):
                if key.strip():
                    names.setdefault(key.strip(), scientific)
                    names.setdefault(key, scientific)
    return names


def read_name_map(path: str | os.PathLike) -> dict[str, str]:
    """Another data set's species names -> catalogue (BIRDS-525) names, from a CSV whose first
    two columns are the two names (like `cub-to-birds525.csv`: `cub name, birds525 name`)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Name map not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows or len(rows[0]) < 2:
        raise DatasetError(
            f"{path}: expected a header and two columns (source name, catalogue name)"
        )
    return {row[0].strip(): row[1].strip() for row in rows[1:] if len(row) >= 2 and row[1].strip()}


@dataclass
class SubsampleReport:
    """What `subsample` wrote."""

    out: Path
    per_class: int
    train_counts: dict[str, int]
    short_species: dict[str, int]
    carried_splits: dict[str, int]
    linked: bool


def subsample(
    source: str | os.PathLike,
    *,
    out: str | os.PathLike,
    per_class: int,
    seed: int = 0,
    overwrite: bool = False,
) -> SubsampleReport:
    """Write a balanced subset: `per_class` random train photos per species, other splits as is.

    Files are hard-linked when possible (same file system), else copied. The folder is built
    next to `out` and renamed into place at the end, so a failure leaves nothing behind.
    """
    if per_class < 1:
        raise DatasetError("per_class must be at least 1")
    dataset = read_dataset(source)
    out = Path(out).expanduser().resolve()
    if dataset.root.resolve() == out:
        raise DatasetError("The output folder must differ from the source folder.")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"{out} exists and is not empty (use overwrite to replace it).")
    train = dataset.samples("train")
    if not train:
        raise DatasetError(f"{dataset.root} has no train split to subsample.")

    rng = random.Random(seed)
    by_species: dict[str, list[Sample]] = {}
    for sample in train:
        by_species.setdefault(sample.species, []).append(sample)
    chosen = []
    for name in sorted(by_species):
        pool = by_species[name]
        chosen += rng.sample(pool, min(per_class, len(pool)))
    kept = chosen + [s for split, v in dataset.splits.items() if split != "train" for s in v]

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        linked = _place_files(kept, tmp)
        write_birds_csv(tmp / CSV_NAME, kept, scientific_names=dataset.scientific_names)
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    counts = Counter(s.species for s in chosen)
    return SubsampleReport(
        out=out,
        per_class=per_class,
        train_counts=dict(sorted(counts.items())),
        short_species={k: v for k, v in sorted(counts.items()) if v < per_class},
        carried_splits={k: len(v) for k, v in dataset.splits.items() if k != "train"},
        linked=linked,
    )


def relative_path(sample: Sample) -> Path:
    """`<split>/<SPECIES>/<file>` as in birds.csv, whatever the source layout."""
    return Path(sample.split) / sample.species / sample.path.name


def _place_files(samples: list[Sample], dest: Path) -> bool:
    """Hard-link (or copy when linking is impossible) each sample into dest; True if all linked."""
    all_linked = True
    for sample in samples:
        target = dest / relative_path(sample)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(sample.path, target)
        except OSError:
            shutil.copy2(sample.path, target)
            all_linked = False
    return all_linked


def write_birds_csv(path: Path, samples: list[Sample], *, scientific_names: dict[str, str]) -> None:
    """`birds.csv` listing `samples` (class id: the species' place in name order), the file
    `read_dataset` reads scientific names from; written by `subsample` and the site's export."""
    index = {name: i for i, name in enumerate(sorted({s.species for s in samples}))}
    order = {split: i for i, split in enumerate(SPLITS)}
    rows = sorted(samples, key=lambda s: (order.get(s.split, 9), s.species, s.path.name))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for s in rows:
            writer.writerow(
                [
                    index[s.species],
                    relative_path(s).as_posix(),
                    s.species,
                    s.split,
                    scientific_names.get(s.species, ""),
                ]
            )


def read_boxes(root: Path) -> dict[Path, Box]:
    """Photo path -> true box, from `<root>/boxes.csv`."""
    path = Path(root) / BOXES_CSV
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: a field folder needs its bird boxes")
    with open(path, newline="", encoding="utf-8") as handle:
        return {
            (Path(root) / row["filepaths"]).resolve(): Box(
                *(float(row[k]) for k in ("x", "y", "width", "height"))
            )
            for row in csv.DictReader(handle)
        }
