"""Training photos from several data folders, under the catalogue's species names.

The first folder is the catalogue: its species are the model's labels (the 525 of BIRDS-525) and
its photos are split into training and held-out photos as `ml.train.choose_split` decides. Each
added folder (e.g. `cub100`, `field`) gives its `train` and `valid` photos (never `test`, which
judges) to training, its species renamed through a name map (`ml.data.read_name_map`). Photos of
species outside the catalogue are never trained on: their `train` photos are the "unknown bird"
photos that choose the open-set rule. A hold-out (`ml.holdout`) removes photos by content from
every folder, or from an added folder the hold-out it names (`hold_out_of`: retraining keeps the
base folders' hold-out off the new photos, and the judged folders off all).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ml.data import Dataset, DatasetError, Sample, read_dataset
from ml.holdout import read_hold_out

ADDED_SPLITS = ("train", "valid")
UNKNOWN_SPLIT = "train"


@dataclass
class Sources:
    """Every folder's photos, sorted into what trains and what stays out."""

    catalogue: Dataset  # the hold-out removed
    added: list[Sample]  # added folders' photos of catalogue species, under catalogue names
    unknown: list[Sample]  # added folders' `train` photos of species outside the catalogue
    record: list[dict]  # what data.json says of each folder

    @property
    def outside(self) -> dict[str, list[str]]:
        """Added folder -> its species outside the catalogue (not trained on)."""
        return {r["path"]: r["outside_catalogue"] for r in self.record if r["outside_catalogue"]}

    def summary(self) -> list[str]:
        """What each added folder gave and what the hold-out removed, a line each."""
        lines = []
        for entry in self.record:
            if entry.get("role") == "added":
                line = (
                    f"Added {entry['photos']} photos of {entry['species']} catalogue species "
                    f"from {entry['path']} ({entry['held_out']} held out)"
                )
                outside = entry["outside_catalogue"]
                if outside:
                    more = "..." if len(outside) > 5 else ""
                    line += (
                        f"; {len(outside)} species outside the catalogue, not trained on: "
                        f"{', '.join(outside[:5])}{more}"
                    )
                lines.append(line)
            elif "hold_out" in entry:
                lines.append(
                    f"Held out {entry['photos']} photos (and their copies): {entry['hold_out']}"
                )
        return lines


def gather_sources(
    catalogue_root: Path,
    *,
    added: Sequence[Path] = (),
    names: dict[str, str] | None = None,
    hold_out: Sequence[Path] = (),
    hold_out_of: Mapping[Path, Sequence[Path]] | None = None,
    species: list[str] | None = None,
    exclude: Collection[str] = (),
) -> Sources:
    """Read the catalogue and the added folders; leave out the hold-out's photos and copies
    (for the added folders `hold_out_of` names, its hold-out instead), and the added photos of
    the catalogue species in `exclude` (neither trained on nor unknown)."""
    catalogue = read_dataset(catalogue_root, species)
    names = names or {}
    known = set(catalogue.species)
    gathered: list[tuple[Path, str, list[Sample], list[Sample], list[str]]] = [
        (
            Path(catalogue_root),
            "catalogue",
            [s for v in catalogue.splits.values() for s in v],
            [],
            [],
        )
    ]
    for root in added:
        dataset = read_dataset(root)
        mapped = {name: names.get(name, name) for name in dataset.species}
        outside = sorted(name for name, target in mapped.items() if target not in known)
        photos = [
            dataclasses.replace(s, species=mapped[s.species])
            for split in ADDED_SPLITS
            for s in dataset.samples(split)
            if mapped[s.species] in known and mapped[s.species] not in exclude
        ]
        unknown = [s for s in dataset.samples(UNKNOWN_SPLIT) if s.species in outside]
        gathered.append((Path(root), "added", photos, unknown, outside))
    scoped = {Path(k).resolve(): resolved_folders(v) for k, v in (hold_out_of or {}).items()}
    removed = _held_out(gathered, hold_out=resolved_folders(hold_out), scoped=scoped)
    record, added_photos, unknown_photos = [], [], []
    for root, role, photos, unknown, outside in gathered:
        kept = [s for s in photos if s.path not in removed]
        record.append(
            {
                "path": str(root.resolve()),
                "role": role,
                "photos": len(kept),
                "species": len({s.species for s in kept}),
                "held_out": len(photos) - len(kept),
                "outside_catalogue": outside,
                "fingerprint": fingerprint(kept),
            }
        )
        if root.resolve() in scoped:
            record[-1]["held_out_by"] = [str(p) for p in scoped[root.resolve()]]
        if role == "added":
            added_photos += kept
            unknown_photos += [s for s in unknown if s.path not in removed]
    splits = {
        split: [s for s in samples if s.path not in removed]
        for split, samples in catalogue.splits.items()
    }
    if not any(splits.values()):
        raise DatasetError(f"The hold-out leaves no photo of {catalogue_root}.")
    if hold_out:
        record.append(
            {"hold_out": [str(Path(p).resolve()) for p in hold_out], "photos": len(removed)}
        )
    return Sources(
        dataclasses.replace(catalogue, splits=splits), added_photos, unknown_photos, record
    )


def _held_out(
    gathered: list, *, hold_out: tuple[Path, ...], scoped: dict[Path, tuple[Path, ...]]
) -> set[Path]:
    """The photos of each folder that its hold-out (`scoped`, else `hold_out`) matches."""
    by_hold_out: dict[tuple[Path, ...], set[Path]] = {}
    for root, _, photos, unknown, _ in gathered:
        folders = scoped.get(root.resolve(), hold_out)
        by_hold_out.setdefault(folders, set()).update(s.path for s in photos + unknown)
    removed = set()
    for folders, candidates in by_hold_out.items():
        if folders:
            paths = sorted(candidates)
            matches = read_hold_out(list(folders)).matches(paths)
            removed |= {p for p, held in zip(paths, matches, strict=True) if held}
    return removed


def resolved_folders(folders: Sequence[Path]) -> tuple[Path, ...]:
    """`folders` resolved, each once, in their first order."""
    return tuple(dict.fromkeys(Path(p).resolve() for p in folders))


def held_out_of_all(data_info: dict) -> set[Path]:
    """The folders the model whose `data.json` is `data_info` held out of every folder."""
    records = data_info.get("sources", [])
    held = {Path(p) for r in records for p in r.get("hold_out", [])}
    for r in records:
        if "held_out_by" in r:
            held &= {Path(p) for p in r["held_out_by"]}
    return held


def trained_on_split(data_info: dict, folder: Path, *, split: str) -> bool:
    """Whether the model whose `data.json` is `data_info` trained on `folder`'s `split`: an
    added folder's train and valid photos all train, unless that split was held out."""
    records = data_info.get("sources", [])
    held = held_out_of_all(data_info)
    return split in ADDED_SPLITS and any(
        r.get("role") == "added"
        and Path(r["path"]) == Path(folder).resolve()
        and (Path(folder) / split).resolve() not in held
        for r in records
    )


def fingerprint(samples: list[Sample]) -> str:
    """Short digest of which files (names and sizes) a folder gave: a changed folder shows."""
    digest = hashlib.sha256()
    for line in sorted(
        f"{s.split}/{s.species}/{s.path.name}:{s.path.stat().st_size}" for s in samples
    ):
        digest.update(line.encode())
    return digest.hexdigest()[:12]
