"""Retraining a model with more photos, and judging the candidate against it on photos neither
trained on (the rule itself is `ml.promotion_rule`).

The candidate is trained on the model's own recipe (its `data.json`: catalogue, added folders,
name map, hold-outs, seed, species; its `params.json`; its bird finder), plus one more added
folder, so the new photos are the only difference: the model's hold-outs keep the base folders
as they were and do not apply to the new photos (a benchmark holds out `field/train` to log it
as sightings). The folders it is judged on are held out of every folder, the new one included.
Both models are then run on the same engine over the same photos, photo by photo:
- the judged folders (e.g. `field/valid`), which both must have held out by content;
- the catalogue check: the catalogue's `test` split when it has one, else the catalogue photos
  that `ml.train.choose_split` held out for both (the same seed and photos give the same ones).
  The heads never trained on those, but they chose early stopping and calibration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ml.config import default_name_map
from ml.data import Sample, read_dataset, read_name_map
from ml.evaluate import run_predictor
from ml.features import Extractor
from ml.model import HeadParams, load_params
from ml.model_dir import ModelDir
from ml.predict import Predictor
from ml.promotion_rule import Decision, Paired, decide
from ml.runtimes import REFERENCE, Engine
from ml.sources import (
    Sources,
    gather_sources,
    held_out_of_all,
    resolved_folders,
    trained_on_split,
)
from ml.train import choose_split, train_model

Log = Callable[[str], None]


class RetrainRefused(ValueError):
    """A candidate that cannot be trained or judged fairly; the message says why and what to do."""


@dataclass(frozen=True)
class Recipe:
    """What a model was trained on, read from its model directory."""

    catalogue: Path
    added: list[Path]
    names: dict[str, str]
    hold_out: list[Path]
    hold_out_of: dict[Path, list[Path]]  # added folders with a hold-out of their own
    species: list[str]
    seed: int
    per_class: int | None
    params: HeadParams | None

    @classmethod
    def of(cls, model: ModelDir) -> Recipe:
        info = model.data_info
        records = info.get("sources")
        if not records:
            raise RetrainRefused(
                f"Model {model.version} does not record what it was trained on (no sources in "
                "its data.json): train one with train_model, then retrain."
            )
        names = info.get("names")
        if names is None:  # models made before data.json recorded the map used the default
            names = read_name_map(default_name_map()) if default_name_map().is_file() else {}
        return cls(
            catalogue=Path(next(r["path"] for r in records if r.get("role") == "catalogue")),
            added=[Path(r["path"]) for r in records if r.get("role") == "added"],
            names=names,
            hold_out=[Path(p) for r in records for p in r.get("hold_out", [])],
            hold_out_of={
                Path(r["path"]): [Path(p) for p in r["held_out_by"]]
                for r in records
                if "held_out_by" in r
            },
            species=sorted({*model.species, *info.get("species_left_out", [])}),
            seed=int(info.get("seed", 0)),
            per_class=info.get("per_class"),
            params=load_params(**model.params) if model.params else None,
        )

    def command(self, *, hold_out: Sequence[Path]) -> str:
        """The train_model command that makes this model again with `hold_out` held out too."""
        folders = " ".join(str(p) for p in [self.catalogue, *self.added])
        held = " ".join(str(p) for p in _union(self.hold_out, hold_out))
        return f"manage.py train_model --data {folders} --hold-out {held} --activate"


def unfair_reasons(model: ModelDir, *, held_out: Sequence[Path]) -> list[str]:
    """Why `model` cannot be judged on the `held_out` folders: each one it did not hold out by
    content (it trained on the folder, or on copies or crops of its photos maybe)."""
    recipe = Recipe.of(model)
    held = held_out_of_all(model.data_info)
    reasons = []
    for folder in held_out:
        folder = Path(folder).resolve()
        if folder in held:
            continue
        trained = trained_on_split(model.data_info, folder.parent, split=folder.name) or any(
            folder == p.resolve() or p.resolve() in folder.parents for p in recipe.added
        )
        how = (
            "trained on the photos of"
            if trained
            else "did not hold out (copies or crops of its photos may be among what it trained on)"
        )
        reasons.append(
            f"model {model.version} {how}: {folder}. Train and activate one that holds it out: "
            f"{recipe.command(hold_out=[folder])}"
        )
    return reasons


def train_candidate(
    model: ModelDir,
    *,
    photos: Path,
    held_out: Sequence[Path],
    out_dir: Path,
    seed: int | None = None,
    extractor: Extractor | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    log: Log = print,
) -> ModelDir:
    """`model`'s recipe plus the `photos` folder as one more added folder, holding out the
    `held_out` folders too; the new model directory (`ml.train.train_model` writes it whole)."""
    recipe = Recipe.of(model)
    scoped = {folder: _union(own, held_out) for folder, own in recipe.hold_out_of.items()}
    path = train_model(
        recipe.catalogue,
        out_dir=out_dir,
        params=recipe.params,
        seed=recipe.seed if seed is None else seed,
        species=recipe.species,
        per_class=recipe.per_class,
        extractor=extractor,
        cache_dir=cache_dir,
        progress=progress,
        log=log,
        finder=model.finder,
        added=[*recipe.added, Path(photos)],
        names=recipe.names,
        hold_out=_union(recipe.hold_out, held_out),
        hold_out_of={**scoped, Path(photos): list(held_out)},
    )
    return ModelDir.open(path=path)


@dataclass(frozen=True)
class Judgement:
    """The decision and what it was made on."""

    active: str
    candidate: str
    held_out_folders: list[str]
    catalogue_check: str  # which photos, in words
    engine: str
    decision: Decision
    seconds: float

    def to_dict(self) -> dict:
        return {**asdict(self), "decision": self.decision.to_dict()}


def judge(
    active: ModelDir,
    candidate: ModelDir,
    *,
    held_out: Sequence[Path],
    engine: Engine = REFERENCE,
    progress: bool = True,
) -> Judgement:
    """Both models on the same photos, paired, and the promotion rule's decision. Raises
    RetrainRefused when either may have trained on the photos it would be judged on."""
    started = time.perf_counter()
    reasons = [r for m in (active, candidate) for r in unfair_reasons(m, held_out=held_out)]
    if reasons:
        raise RetrainRefused("Not judged, nothing promoted: " + " ".join(reasons))
    species = set(active.species) & set(candidate.species)
    judged = held_out_photos(held_out, names=Recipe.of(active).names, species=species)
    check, note = catalogue_check(active, candidate)
    check = [(s.path, s.species) for s in check if s.species in species]

    def paired(photos: list[tuple[Path, str]], desc: str) -> Paired:
        right = [
            _correct(m, photos, engine=engine, progress=progress, desc=f"{desc} ({who})")
            for who, m in (("active", active), ("candidate", candidate))
        ]
        both = sorted(right[0].keys() & right[1].keys())  # photos both could read
        return Paired.of(
            np.array([right[0][p] for p in both], bool), np.array([right[1][p] for p in both], bool)
        )

    decision = decide(held_out=paired(judged, "held out"), catalogue=paired(check, "catalogue"))
    return Judgement(
        active=active.version,
        candidate=candidate.version,
        held_out_folders=[str(Path(p).resolve()) for p in held_out],
        catalogue_check=note,
        engine=engine.key,
        decision=decision,
        seconds=round(time.perf_counter() - started, 1),
    )


def held_out_photos(
    folders: Sequence[Path], *, names: dict[str, str], species: set[str]
) -> list[tuple[Path, str]]:
    """(photo, catalogue name) of every photo in the folders (any split) of a species in
    `species`, names mapped through `names`."""
    photos = []
    for folder in folders:
        for samples in read_dataset(folder).splits.values():
            for s in samples:
                name = names.get(s.species, s.species)
                if name in species:
                    photos.append((s.path, name))
    return photos


def catalogue_check(active: ModelDir, candidate: ModelDir) -> tuple[list[Sample], str]:
    """The catalogue photos neither model trained on, and how they were chosen; refused when
    the models' catalogues differ or the folder changed since a model was trained on it."""
    recipes = [Recipe.of(m) for m in (active, candidate)]
    if recipes[0].catalogue.resolve() != recipes[1].catalogue.resolve():
        raise RetrainRefused(
            f"The models have different catalogues ({recipes[0].catalogue}, "
            f"{recipes[1].catalogue}): there is no catalogue check both held out."
        )
    read: dict[tuple, Sources] = {}  # the same catalogue and hold-out are read once
    held = []
    for model, recipe in zip((active, candidate), recipes, strict=True):
        key = (frozenset(p.resolve() for p in recipe.hold_out), tuple(recipe.species))
        if key not in read:
            read[key] = gather_sources(
                recipe.catalogue, hold_out=recipe.hold_out, species=recipe.species
            )
        held.append(_held_catalogue(model, recipe, read[key]))
    (ours, split), (others, _) = held
    if split == "test":
        return ours, f"the catalogue's test split, {len(ours)} photos: never trained on"
    theirs = {s.path for s in others}
    photos = [s for s in ours if s.path in theirs]
    return photos, (
        f"{len(photos)} catalogue photos held out of both trainings (split {split}, seed "
        f"{recipes[0].seed}): no head trained on them, but they chose both models' early "
        "stopping and calibration"
    )


def _held_catalogue(model: ModelDir, recipe: Recipe, sources: Sources) -> tuple[list[Sample], str]:
    """The catalogue photos the model's training held out (its catalogue read as `sources`),
    and from which split."""
    recorded = next(r for r in model.data_info["sources"] if r.get("role") == "catalogue")
    if sources.record[0]["fingerprint"] != recorded.get("fingerprint"):
        raise RetrainRefused(
            f"The catalogue {recipe.catalogue} changed since model {model.version} was trained "
            "on it: which of its photos that model held out is not known, so nothing is judged."
        )
    if sources.catalogue.samples("test"):
        return sources.catalogue.samples("test"), "test"
    split = choose_split(sources.catalogue, seed=recipe.seed, per_class=recipe.per_class)
    return split.held, split.held_from


def _correct(
    model: ModelDir,
    photos: list[tuple[Path, str]],
    *,
    engine: Engine,
    progress: bool,
    desc: str,
) -> dict[Path, bool]:
    """Photo -> whether the model's top answer is its species (unreadable photos left out)."""
    index = {name: i for i, name in enumerate(model.species)}
    predictions, _ = run_predictor(
        Predictor.load(model.path, engine=engine),
        [(path, index[name]) for path, name in photos],
        k=1,
        progress=progress,
        desc=desc,
    )
    right = predictions.y_pred == predictions.y_true
    return dict(zip(predictions.paths, right.tolist(), strict=True))


def _union(first: Sequence[Path], more: Sequence[Path]) -> list[Path]:
    return list(resolved_folders([*first, *more]))
