"""Retrain the site's model on what people confirmed, and promote it only if it is better.

The export of the consented sightings (`training_export`) becomes one more added folder of the
active model's own recipe (`ml.retrain`); the candidate and the active model are judged photo by
photo on the held-out folders (`settings.RETRAIN_HELD_OUT`) and the catalogue check, and the
rule (`ml.promotion_rule`) decides. The candidate is kept in the models folder whatever the
decision, with its judgement (`retrain.json`); only `activate_model` makes it the site's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from classifier import model_store
from classifier.active_model import active_model_dir
from classifier.models import ModelPromotion
from classifier.promotion import activate_model
from classifier.services.training_export import TrainingExportError, export_training_data
from ml.config import data_dir
from ml.data import DatasetError, read_dataset
from ml.model_dir import ModelDir, write_retrain_record
from ml.promotion_rule import CONFIDENCE, GUARD_POINTS
from ml.retrain import Judgement, RetrainRefused, judge, train_candidate, unfair_reasons

EXPORTS = "exports"  # in the data dir: the exports retrain makes, one folder per run


@dataclass
class RetrainReport:
    """What retrain did: the models, the photos added, the judgement and the promotion."""

    active: ModelDir
    export: Path
    export_lines: list[str]
    candidate: ModelDir
    judgement: Judgement
    record: Path  # the judgement saved in the candidate's directory
    promotion: ModelPromotion | None = None

    def summary_lines(self) -> list[str]:
        decision = self.judgement.decision
        held, check = decision.held_out, decision.catalogue
        lines = [
            f"Active model {self.active.version}; candidate {self.candidate.version} "
            f"({self.candidate.path}), trained on its recipe plus {self.export}.",
            *self.export_lines,
            f"Held out ({', '.join(self.judgement.held_out_folders)}), {held.photos} photos of "
            f"catalogue species: top-1 {held.active_accuracy:.3f} active, "
            f"{held.candidate_accuracy:.3f} candidate; candidate alone right b = "
            f"{held.candidate_only}, active alone right c = {held.active_only}; one-sided exact "
            f"McNemar p = {decision.p_value:.4g} (promoted only below {1 - CONFIDENCE:.2f}: "
            f"{CONFIDENCE:.0%} confidence).",
            f"Catalogue check, {self.judgement.catalogue_check}. Top-1 "
            f"{check.active_accuracy:.3f} active, {check.candidate_accuracy:.3f} candidate "
            f"(at most {GUARD_POINTS * 100:g} point may be lost). Both run on "
            f"{self.judgement.engine}.",
        ]
        verdict = "promote" if decision.promote else "keep the active model"
        lines.append(f"Decision: {verdict}; " + "; ".join(decision.reasons) + ".")
        if self.promotion is not None:
            lines.append(f"Promoted {self.promotion.version}: workers switch within seconds.")
        elif decision.promote:
            lines.append(
                "Not promoted (no --promote-if-better): manage.py promote_model "
                f"{self.candidate.path}"
            )
        else:
            lines.append(f"Refused: the candidate is kept, not served, in {self.candidate.path}.")
        lines.append(f"Judgement saved in {self.record}.")
        return lines


def retrain(
    *,
    performed_by: str,
    export_dir: Path | None = None,
    since: dt.date | None = None,
    min_per_species: int = 1,
    promote_if_better: bool = False,
    seed: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> RetrainReport:
    """Export (unless `export_dir` names one), train the candidate, judge it against the active
    model, and with `promote_if_better` promote it when the rule says it is better. Raises
    RetrainRefused, before training, when nothing can be judged fairly or trained on."""
    active = _active_model()
    held_out = _held_out_folders()
    reasons = unfair_reasons(active, held_out=held_out)
    if reasons:
        raise RetrainRefused("Nothing trained, nothing promoted: " + " ".join(reasons))
    if export_dir is None:
        export_dir, export_lines = _export(
            since=since, min_per_species=min_per_species, progress=progress
        )
    else:
        export_lines = [f"Export: {export_dir} (given)."]
    for line in export_lines:
        log(line)
    _check_export(export_dir)
    candidate = train_candidate(
        active,
        photos=export_dir,
        held_out=held_out,
        out_dir=Path(settings.MODELS_DIR),
        seed=seed,
        progress=progress,
        log=log,
    )
    if candidate.version == active.version:
        raise RetrainRefused(
            f"The candidate is the active model {active.version} again: the export changed "
            "nothing it was trained on. Nothing promoted."
        )
    judgement = judge(active, candidate, held_out=held_out, progress=progress)
    promote = promote_if_better and judgement.decision.promote
    record = write_retrain_record(
        model=candidate,
        record={
            **judgement.to_dict(),
            "export": str(export_dir),
            "promote_if_better": promote_if_better,
            "promoting": promote,
        },
    )
    report = RetrainReport(
        active=active,
        export=export_dir,
        export_lines=export_lines,
        candidate=candidate,
        judgement=judgement,
        record=record,
    )
    if promote:
        report.promotion = activate_model(
            model_dir=candidate.path, performed_by=performed_by, evidence=judgement.to_dict()
        )
    return report


def _active_model() -> ModelDir:
    if model_store.enabled():
        version = model_store.active_version()
        path = (
            None
            if version is None
            else model_store.fetch(version=version, models_root=Path(settings.MODELS_DIR)).path
        )
    else:
        path = active_model_dir()
    if path is None:
        raise RetrainRefused(
            "No model is active: there is nothing to compare a retrained model with. "
            "Run manage.py setup_classifier (or promote_model) first."
        )
    return ModelDir.open(path=path)


def _held_out_folders() -> list[Path]:
    folders = [Path(p) for p in settings.RETRAIN_HELD_OUT]
    missing = [str(p) for p in folders if not p.is_dir()]
    if not folders or missing:
        raise RetrainRefused(
            "No held-out folder to judge on"
            + (f" (not found: {', '.join(missing)})" if missing else "")
            + ": set BIRDSITE_RETRAIN_HELD_OUT to folders of photos neither model trains on."
        )
    return folders


def _export(
    *, since: dt.date | None, min_per_species: int, progress: bool
) -> tuple[Path, list[str]]:
    """A fresh export of the consented sightings, under the data dir."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        report = export_training_data(
            out_dir=data_dir() / EXPORTS / stamp,
            since=since,
            min_per_species=min_per_species,
            progress=progress,
        )
    except TrainingExportError as error:
        raise RetrainRefused(f"Nothing exported: {error}") from error
    return report.out_dir, report.summary_lines()


def _check_export(folder: Path) -> None:
    try:
        read_dataset(folder)
    except DatasetError as error:
        raise RetrainRefused(f"Nothing to retrain on: {error}") from error
