"""Figures (PNG, matplotlib Agg) and markdown of the tuning and evaluation reports.

Each plot function takes plain data, writes one PNG atomically and returns its path, so the
reports can be rebuilt from `trials.jsonl` or `metrics.json` alone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ml.atomic import write_bytes, write_json
from ml.evaluate import Evaluation, Predictions
from ml.images import load_rgb
from ml.metrics import reliability_table, worst_submatrix
from ml.model_dir import METRICS_FILE


def _save(fig: plt.Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path=path, data=buffer.getvalue())
    return path


# --- tuning ------------------------------------------------------------------------------------


def plot_trial_losses(records: Sequence[dict], path: Path) -> Path:
    """Loss of each trial in order, with the running best."""
    tids = [r["tid"] for r in records]
    losses = np.array([r["loss"] for r in records], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(tids, losses, s=18, label="trial", color="tab:blue")
    ax.step(tids, np.minimum.accumulate(losses), where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("objective loss")
    ax.set_title("Loss per trial")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_loss_vs_params(records: Sequence[dict], *, kinds: dict[str, str], path: Path) -> Path:
    """One panel per parameter: loss against its value (log axis for `log`, strip plot for
    `choice`); the best trial is marked."""
    names = list(kinds)
    cols = 3
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    losses = np.array([r["loss"] for r in records], dtype=float)
    best = int(np.argmin(losses))
    rng = np.random.default_rng(0)
    for ax, name in zip(axes.flat, names, strict=False):
        values = [r["params"].get(name) for r in records]
        if kinds[name] == "choice":
            cats = sorted({str(v) for v in values}, key=_natural)
            x = np.array([cats.index(str(v)) for v in values], dtype=float)
            ax.scatter(x + rng.uniform(-0.15, 0.15, len(x)), losses, s=14, alpha=0.7)
            ax.scatter([x[best]], [losses[best]], s=60, marker="*", color="tab:red")
            ax.set_xticks(range(len(cats)), cats, rotation=30)
        else:
            x = np.array([np.nan if v is None else v for v in values], dtype=float)
            ax.scatter(x, losses, s=14, alpha=0.7)
            ax.scatter([x[best]], [losses[best]], s=60, marker="*", color="tab:red")
            if kinds[name] == "log":
                ax.set_xscale("log")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.supylabel("objective loss")
    fig.tight_layout()
    return _save(fig, path)


def _natural(value: str) -> tuple:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def plot_learning_curves(records: Sequence[dict], *, path: Path, n: int = 4) -> Path:
    """Training and hold-out loss per epoch of the `n` best trials."""
    best = sorted(records, key=lambda r: r["loss"])[:n]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for r in best:
        history = r.get("history") or {}
        label = f"trial {r['tid']} ({r['loss']:.4f})"
        for ax, key in zip(axes, ("loss", "val_loss"), strict=True):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], label=label)
    for ax, title in zip(axes, ("training loss", "hold-out loss"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Learning curves of the {len(best)} best trials")
    fig.tight_layout()
    return _save(fig, path)


def tuning_markdown(
    *,
    settings: dict,
    space: dict[str, str],
    records: Sequence[dict],
    figures: dict[str, Path],
    best_dir: Path | None,
    best_metrics: dict | None,
) -> str:
    """report.md of a tuning run."""
    ordered = sorted(records, key=lambda r: r["loss"])
    best = ordered[0]
    durations = [r["duration_s"] for r in records if r.get("duration_s") is not None]
    lines = [
        "# Tuning report",
        "",
        f"Command: `{settings.get('command', 'manage.py tune_model')}`",
        "",
        "## Objective and its data",
        settings.get("objective_doc", ""),
        "",
        f"Data: `{settings.get('data')}` (train split, "
        f"{settings.get('per_class') or 'all'} photos per species), "
        f"seed {settings.get('seed')}; hold-out: {settings.get('holdout_doc', '')}",
        "",
        "## Search space (Hyperopt TPE, 5 random start-up trials)",
        "",
        "| parameter | distribution |",
        "|---|---|",
        *[f"| {name} | {desc} |" for name, desc in space.items()],
        "",
        f"## Trials: {len(records)} finished",
        f"Mean trial time {np.mean(durations):.1f} s, max {np.max(durations):.1f} s."
        if durations
        else "",
        "",
        f"Best trial {best['tid']}: loss {best['loss']:.4f}; "
        + ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(best.get("metrics", {}).items())),
        "",
        "| parameter | best value |",
        "|---|---|",
        *[f"| {k} | {_fmt(v)} |" for k, v in sorted(best["params"].items())],
        "",
        "Top trials:",
        "",
        "| trial | loss | " + " | ".join(space) + " |",
        "|---|---|" + "---|" * len(space),
        *[
            f"| {r['tid']} | {r['loss']:.4f} | "
            + " | ".join(_fmt(r["params"].get(k)) for k in space)
            + " |"
            for r in ordered[:10]
        ],
        "",
    ]
    if best_dir is not None:
        lines += [
            f"The best parameters were trained into `{best_dir}` with the pipeline's training code."
        ]
        if best_metrics:
            lines += [
                "",
                "Its training-run metrics: "
                + ", ".join(
                    f"{k} {_fmt(v)}"
                    for k, v in sorted(best_metrics.items())
                    if isinstance(v, int | float)
                ),
            ]
        lines += [""]
    lines += ["## Figures", ""]
    lines += [f"### {title}\n\n![{title}]({p.name})\n" for title, p in figures.items()]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# --- evaluation --------------------------------------------------------------------------------


def plot_confusion(matrix: np.ndarray, names: Sequence[str], *, path: Path) -> Path:
    """A (sub-)confusion matrix with counts; rows true, columns predicted."""
    size = max(5.0, 0.42 * len(names) + 2.5)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), [n.title() for n in names], rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), [n.title() for n in names], fontsize=7)
    for (i, j), value in np.ndenumerate(matrix):
        if value:
            ax.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                fontsize=6,
                color="white" if value > matrix.max() / 2 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusions of the worst species (lowest recall) and their look-alikes")
    return _save(fig, path)


def plot_open_set(curve: Sequence[dict], *, served_threshold: float, path: Path) -> Path:
    """The open-set trade-off (`ml.open_set.trade_off`): share answered against the threshold
    for catalogue and unknown species, and the catalogue answers' accuracy against their share."""
    fig, (ax_share, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    thresholds = [r["threshold"] for r in curve]
    for key, label, colour in (
        ("catalogue_answered", "catalogue species", "tab:blue"),
        ("unknown_answered", "species outside the catalogue", "tab:red"),
    ):
        if any(r[key] is not None for r in curve):
            ax_share.plot(thresholds, [r[key] for r in curve], color=colour, label=label)
    ax_share.axvline(served_threshold, color="gray", ls="--", label="served threshold")
    ax_share.set_xlabel("top-probability threshold")
    ax_share.set_ylabel('share of photos answered "bird"')
    ax_share.set_ylim(0, 1)
    ax_share.legend(fontsize=8)
    rows = [r for r in curve if r["accuracy_when_answered"] is not None]
    ax_acc.plot(
        [r["catalogue_answered"] for r in rows], [r["accuracy_when_answered"] for r in rows]
    )
    served = min(curve, key=lambda r: abs(r["threshold"] - served_threshold))
    if served["accuracy_when_answered"] is not None:
        ax_acc.scatter(
            [served["catalogue_answered"]],
            [served["accuracy_when_answered"]],
            color="gray",
            zorder=3,
            label=f"served threshold {served_threshold:.2f}",
        )
        ax_acc.legend(fontsize=8)
    ax_acc.set_xlabel('share of catalogue photos answered "bird"')
    ax_acc.set_ylabel("accuracy when answered")
    ax_acc.set_xlim(0, 1)
    ax_acc.set_ylim(0, 1)
    fig.suptitle("Answering only when sure: catalogue species against unknown birds")
    fig.tight_layout()
    return _save(fig, path)


def plot_reliability(table: Sequence[dict], path: Path) -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal, with counts."""
    fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(5.5, 6), height_ratios=[3, 1], sharex=True)
    centres = [(r["low"] + r["high"]) / 2 for r in table]
    width = table[0]["high"] - table[0]["low"] if table else 0.1
    ax.bar(
        centres,
        [r["accuracy"] for r in table],
        width=width * 0.9,
        color="tab:blue",
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.scatter(
        [r["confidence"] for r in table if r["count"]],
        [r["accuracy"] for r in table if r["count"]],
        color="tab:red",
        s=12,
        zorder=3,
        label="mean confidence",
    )
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Reliability of the top suggestion")
    ax_count.bar(centres, [r["count"] for r in table], width=width * 0.9, color="tab:gray")
    ax_count.set_xlabel("confidence")
    ax_count.set_ylabel("photos")
    fig.tight_layout()
    return _save(fig, path)


def plot_misclassified(
    items: Sequence[tuple[Path, str, str, float]], *, path: Path, n: int = 24
) -> Path:
    """A grid of misclassified photos captioned with the true and predicted names."""
    items = sorted(items, key=lambda item: -item[3])[:n]
    cols = 6
    rows = max(1, -(-len(items) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (photo, true, predicted, confidence) in zip(axes.flat, items, strict=False):
        ax.imshow(load_rgb(photo))
        ax.set_title(
            f"true: {true.title()}\npred: {predicted.title()} ({confidence:.0%})", fontsize=7
        )
    if not items:
        axes.flat[0].text(0.5, 0.5, "no misclassified photos", ha="center", va="center")
    fig.suptitle("Misclassified photos, most confident mistakes first")
    fig.tight_layout()
    return _save(fig, path)


def evaluation_markdown(
    evaluation: Evaluation, *, model_dir: Path, data: Path, split: str, figures: dict[str, Path]
) -> str:
    """report.md of an evaluation."""
    lines = [
        "# Evaluation report",
        "",
        f"Model `{model_dir}` on `{data}` split `{split}` ({evaluation.n_photos} photos"
        + (f", {evaluation.n_negatives} negatives" if evaluation.n_negatives else "")
        + ").",
        "",
        *[f"- {line}" for line in summary_lines(evaluation)],
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {'n/a' if v is None else f'{v:.4f}'} |" for k, v in evaluation.metrics.items()],
        "",
        "## Most confused pairs",
        "",
        "| true | predicted | photos | share of the true species |",
        "|---|---|---|---|",
        *[
            f"| {p['true'].title()} | {p['predicted'].title()} | {p['count']} "
            f"| {p['share_of_true']:.0%} |"
            for p in evaluation.confused_pairs
        ],
        "",
        "## Worst species (per_species.csv has all)",
        "",
        "| species | precision | recall | F1 | photos |",
        "|---|---|---|---|---|",
        *[
            f"| {r['species'].title()} | {r['precision']:.2f} | {r['recall']:.2f} "
            f"| {r['f1']:.2f} | {r['support']} |"
            for r in evaluation.per_species[:15]
        ],
        "",
        "## Figures",
        "",
        *[f"### {title}\n\n![{title}]({p.name})\n" for title, p in figures.items()],
    ]
    return "\n".join(lines)


def summary_lines(evaluation: Evaluation) -> list[str]:
    """A short human summary of an evaluation."""
    m = evaluation.metrics

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    lines = [
        f"photos {evaluation.n_photos}  accuracy {pct(m['accuracy'])}  "
        f"top-5 {pct(m['top5_accuracy'])}  "
        f"weighted F1 {m['weighted_f1']:.4f}  macro F1 {m['macro_f1']:.4f}  ECE {m['ece']:.4f}",
        f"verdicts: no_bird {pct(m['no_bird_rate'])}  uncertain {pct(m['uncertain_rate'])}  "
        f"accuracy when answered 'bird' {pct(m['answered_accuracy'])}",
    ]
    if m["negatives_rejected"] is not None:
        lines.append(
            f"negatives: {evaluation.n_negatives} photos, "
            f"{pct(m['negatives_rejected'])} answered no_bird"
        )
    if evaluation.unknown_species:
        n = sum(evaluation.unknown_species.values())
        names = ", ".join(list(evaluation.unknown_species)[:5])
        lines.append(
            f"left out: {n} photos of {len(evaluation.unknown_species)} species the model does not "
            f"know ({names}{', ...' if len(evaluation.unknown_species) > 5 else ''})"
        )
    if evaluation.open_set is not None:
        o = evaluation.open_set
        lines.append(
            f"open set: unknown species answered 'bird' {pct(o['unknown_answered'])}; catalogue "
            f"species answered {pct(o['catalogue_answered'])}, "
            f"{pct(o['accuracy_when_answered'])} of them right"
        )
    if evaluation.skipped:
        lines.append(
            f"skipped {len(evaluation.skipped)} unreadable photos (e.g. {evaluation.skipped[0][0]})"
        )
    return lines


def write_evaluation(
    *,
    out: Path,
    evaluation: Evaluation,
    predictions: Predictions,
    model_dir: Path,
    data: Path,
    split: str,
) -> Path:
    """The report folder of an evaluation: metrics.json (exactly `METRIC_KEYS`), per-species and
    confusion CSVs, figures, report.md (and open_set.json with photos of unknown species).
    Returns report.md's path."""
    out, names = Path(out), evaluation.names
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(
        path=out / "per_species.csv",
        data=_csv(evaluation.per_species, ["species", "precision", "recall", "f1", "support"]),
    )
    write_bytes(
        path=out / "confused_pairs.csv",
        data=_csv(evaluation.confused_pairs, ["true", "predicted", "count", "share_of_true"]),
    )
    correct = predictions.y_pred == predictions.y_true
    figures = {
        "confusion": plot_confusion(
            *worst_submatrix(predictions.y_true, predictions.y_pred, names=names),
            path=out / "confusion_worst.png",
        ),
        "reliability": plot_reliability(
            reliability_table(predictions.confidence, correct), out / "reliability.png"
        ),
        "misclassified": plot_misclassified(
            [
                (
                    predictions.paths[i],
                    names[predictions.y_true[i]],
                    names[predictions.y_pred[i]],
                    float(predictions.confidence[i]),
                )
                for i in np.flatnonzero(~correct)
            ],
            path=out / "misclassified.png",
        ),
    }
    if evaluation.open_set is not None:
        figures["open set"] = plot_open_set(
            evaluation.open_set["trade_off"],
            served_threshold=evaluation.open_set["served_threshold"],
            path=out / "open_set.png",
        )
        write_json(path=out / "open_set.json", value=evaluation.open_set)
    write_bytes(
        path=out / "report.md",
        data=evaluation_markdown(
            evaluation, model_dir=model_dir, data=data, split=split, figures=figures
        ).encode(),
    )
    write_json(path=out / METRICS_FILE, value=evaluation.metrics)  # as a model dir names it
    return out / "report.md"


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()
