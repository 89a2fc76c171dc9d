"""Two model directories side by side on the same split: metrics, size, parameters, latency."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ml.evaluate import evaluate
from ml.litert import LiteRTModel
from ml.metrics import METRIC_KEYS
from ml.model_dir import ModelDir
from ml.runtimes import REFERENCE, Engine


def directory_bytes(folder: Path) -> int:
    """Size on disk of a model directory's files."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def tflite_parameter_count(path: Path) -> int:
    """Weights in a TFLite file: elements of its constant tensors (those with a buffer)."""
    interpreter = LiteRTModel(path, num_threads=1).interpreter
    count = 0
    for detail in interpreter.get_tensor_details():
        try:
            value = interpreter.get_tensor(detail["index"])
        except ValueError:  # intermediate tensors have no data
            continue
        if (
            value.size
            and detail["name"]
            and not detail["name"].startswith(("serving_default", "StatefulPartitioned"))
        ):
            count += int(value.size)
    return count


def compare(
    dir_a: str | os.PathLike,
    dir_b: str | os.PathLike,
    *,
    data: str | os.PathLike,
    split: str = "valid",
    progress: bool = True,
    engine: Engine = REFERENCE,
) -> list[dict]:
    """One row per model: its metrics on the split, size, parameter count and latency per image
    (median and 95th percentile of the Predictor's own timing, first photo excluded as warm-up)."""
    rows = []
    for model_dir in (Path(dir_a), Path(dir_b)):
        model_file = ModelDir.open(path=model_dir).model_file
        evaluation, predictions = evaluate(
            model_dir, data, split=split, progress=progress, engine=engine
        )
        latency = (
            predictions.latency_ms[1:]
            if len(predictions.latency_ms) > 1
            else predictions.latency_ms
        )
        rows.append(
            {
                "model": str(model_dir),
                **{
                    key: evaluation.metrics[key]
                    for key in METRIC_KEYS
                    if key != "negatives_rejected"
                },
                "size_mb": directory_bytes(model_dir) / 1e6,
                "tflite_mb": model_file.stat().st_size / 1e6,
                "parameters": tflite_parameter_count(model_file),
                "latency_ms_median": float(np.median(latency)),
                "latency_ms_p95": float(np.percentile(latency, 95)),
                "photos": evaluation.n_photos,
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    """A plain-text side-by-side table (metric per line, one column per model)."""
    keys = [k for k in rows[0] if k != "model"]
    width = max(len(k) for k in keys) + 2
    names = [Path(r["model"]).name[:22] for r in rows]
    lines = [" " * width + "".join(f"{n:>24}" for n in names)]
    for key in keys:
        cells = []
        for r in rows:
            value = r[key]
            cells.append(
                f"{'n/a':>24}"
                if value is None
                else f"{value:>24.4f}"
                if isinstance(value, float)
                else f"{value:>24}"
            )
        lines.append(f"{key:<{width}}" + "".join(cells))
    return "\n".join(lines)
