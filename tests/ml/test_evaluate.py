"""Evaluation metrics from arrays (fast) and the evaluate command on a small real model (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml.metrics import (
    METRIC_KEYS,
    classification_metrics,
    confused_pairs,
    expected_calibration_error,
    per_species,
    reliability_table,
    verdict_metrics,
    worst_submatrix,
)

NAMES = ["A", "B", "C", "D"]


def test_classification_metrics_match_hand_counts() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2])
    top_k = np.array([[0, 1], [1, 0], [1, 0], [1, 2], [0, 2], [2, 1]])
    metrics = classification_metrics(y_true, top_k, confidence=np.full(6, 0.5))
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["top5_accuracy"] == pytest.approx(1.0)
    # per class F1: A p=1/2 r=1/2, B p=2/3 r=1, C p=1 r=1/2
    f1 = [0.5, 0.8, 2 / 3]
    assert metrics["macro_f1"] == pytest.approx(np.mean(f1))
    assert metrics["weighted_f1"] == pytest.approx(np.mean(f1))
    assert metrics["ece"] == pytest.approx(abs(0.5 - 4 / 6))


def test_macro_f1_ignores_species_absent_from_the_split() -> None:
    y_true = np.array([0, 1])
    top_k = np.array([[0, 3], [1, 3]])
    assert classification_metrics(y_true, top_k, confidence=np.ones(2))["macro_f1"] == 1.0


def test_ece_is_zero_when_confidence_equals_accuracy_per_bin() -> None:
    confidence = np.array([0.95] * 20 + [0.55] * 20)
    correct = np.array([1] * 19 + [0] + [1] * 11 + [0] * 9)
    assert expected_calibration_error(confidence, correct, bins=10) == pytest.approx(0.0)
    rows = reliability_table(confidence, correct, bins=10)
    assert len(rows) == 10 and sum(r["count"] for r in rows) == 40


def test_verdict_metrics() -> None:
    verdicts = ["bird", "bird", "uncertain", "no_bird"]
    correct = np.array([True, False, True, True])
    assert verdict_metrics(verdicts, correct) == {
        "no_bird_rate": 0.25,
        "uncertain_rate": 0.25,
        "answered_accuracy": 0.5,
    }
    assert verdict_metrics(["no_bird"], np.array([True]))["answered_accuracy"] is None


def test_per_species_and_confusions() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([1, 1, 0, 1, 1, 2])
    rows = per_species(y_true, y_pred, names=NAMES)
    assert [r["species"] for r in rows] == ["A", "B", "C"]  # worst F1 first, D absent
    pairs = confused_pairs(y_true, y_pred, names=NAMES)
    assert pairs == [{"true": "A", "predicted": "B", "count": 2, "share_of_true": 2 / 3}]
    matrix, names = worst_submatrix(y_true, y_pred, names=NAMES, n=1)
    assert names == ["A", "B"] and matrix.tolist() == [[1, 2], [0, 2]]


@pytest.mark.slow
def test_evaluate_command_writes_the_report(
    small_model_dir: Path, shared_data: Path, tmp_path: Path
) -> None:
    from django.core.management import call_command

    out = tmp_path / "report"
    negatives = tmp_path / "negatives"
    negatives.mkdir()
    rng = np.random.default_rng(0)
    from PIL import Image

    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)).save(
            negatives / f"noise{i}.jpg"
        )
    from tests.ml.test_sources import OUTSIDE, linked_copy

    # MALLARD is the model's MALLARD DUCK through the name map; OUTSIDE is a bird it does not know
    cub = linked_copy(
        shared_data / "cub100", tmp_path / "cub", ["MALLARD", "RUBY THROATED HUMMINGBIRD", OUTSIDE]
    )
    call_command(
        "evaluate",
        str(small_model_dir),
        data=str(cub),
        split="valid",
        negatives=str(negatives),
        out=str(out),
        verbosity=0,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == set(METRIC_KEYS)
    assert 0 <= metrics["accuracy"] <= metrics["top5_accuracy"] <= 1
    assert metrics["negatives_rejected"] is not None
    open_set = json.loads((out / "open_set.json").read_text())
    n_valid = {name: len(list((cub / "valid" / name).iterdir())) for name in ("MALLARD", OUTSIDE)}
    assert open_set["unknown_photos"] == n_valid[OUTSIDE]
    assert open_set["catalogue_photos"] == n_valid["MALLARD"] + len(
        list((cub / "valid" / "RUBY THROATED HUMMINGBIRD").iterdir())
    )
    assert 0 <= open_set["unknown_answered"] <= 1 and len(open_set["trade_off"]) > 10
    for name in (
        "open_set.png",
        "per_species.csv",
        "confused_pairs.csv",
        "confusion_worst.png",
        "reliability.png",
        "misclassified.png",
        "report.md",
    ):
        assert (out / name).stat().st_size > 0, name


@pytest.mark.slow
def test_evaluate_command_judges_a_field_folder_three_ways(
    small_model_dir: Path, shared_data: Path, tmp_path: Path, capsys
) -> None:
    """A field folder made of real scenes: each held-out photo pasted small into a larger
    frame of its own blurred pixels, the true box where it was pasted."""
    import csv

    from django.core.management import call_command
    from PIL import Image, ImageFilter

    from tests.model_fixtures import SMALL_SPECIES

    field = tmp_path / "field"
    rows = []
    for species in SMALL_SPECIES:
        photo = sorted((shared_data / "birds525" / "valid" / species).glob("*.jpg"))[0]
        bird = Image.open(photo).convert("RGB")
        scene = bird.resize((560, 420)).filter(ImageFilter.GaussianBlur(12))
        scene.paste(bird.resize((150, 150)), (300, 180))
        relative = f"valid/{species}/scene.jpg"
        (field / relative).parent.mkdir(parents=True)
        scene.save(field / relative, quality=95)
        rows.append({"filepaths": relative, "x": 300, "y": 180, "width": 150, "height": 150})
    with open(field / "boxes.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    names = tmp_path / "names.csv"
    names.write_text("source name,catalogue name\n" + "".join(f"{s},{s}\n" for s in SMALL_SPECIES))
    out = tmp_path / "report"
    call_command(
        "evaluate",
        str(small_model_dir),
        data=str(field),
        split="valid",
        out=str(out),
        field=str(field),
        names=str(names),
        verbosity=0,
    )
    figures = json.loads((out / "field.json").read_text())
    assert figures["photos"] == len(SMALL_SPECIES) and figures["box_regressor"]
    for mode in ("full", "finder", "true_box"):
        assert 0 <= figures[f"{mode}_top1"] <= figures[f"{mode}_top5"] <= 1
    assert figures["true_box_top1"] >= 0.75  # the pasted bird, cut back out
    assert figures["cpu_ratio_finder_vs_single"] > 0
    assert "finder: found box IoU" in capsys.readouterr().out
