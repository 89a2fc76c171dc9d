"""Thin LiteRT wrapper: runs the TFLite files of ``ml.export`` without importing TensorFlow.

Web workers and the feature extractor both use it. XNNPACK is LiteRT's default CPU delegate
(applied by the default op resolver); ``num_threads`` defaults to env
``BIRDSITE_LITERT_THREADS``, else the CPU count.

The TFLite file contract (this module owns it; ``ml.export`` writes it): one signature,
``serving_default``, with one input ``images`` (the Keras model's input shape, batch dimension
dynamic) and outputs named ``output_0``, ``output_1``, ... in the order of the Keras model's
outputs. TFLite may store output tensors in any order: they are sorted back by that index here.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

INPUT_NAME = "images"
SIGNATURE = "serving_default"
OUTPUT_PREFIX = "output_"
THREADS_ENV = "BIRDSITE_LITERT_THREADS"
_OUTPUT_INDEX = re.compile(rf"^{OUTPUT_PREFIX}(\d+)$")


def output_name(index: int) -> str:
    """The name of the Keras model's output `index` in the TFLite file."""
    return f"{OUTPUT_PREFIX}{index}"


def default_threads() -> int:
    env = os.environ.get(THREADS_ENV, "").strip()
    if not env:
        return os.cpu_count() or 1
    if not env.isdigit() or int(env) < 1:
        raise ValueError(f"{THREADS_ENV} must be a positive integer, got {env!r}")
    return int(env)


def _output_order(names: list[str]) -> list[str]:
    """``output_<i>`` names sorted by index (not as text: output_10 comes after output_2)."""
    unknown = [n for n in names if not _OUTPUT_INDEX.match(n)]
    if unknown:
        raise ValueError(f"outputs {unknown} are not named output_<i>: not made by ml.export")
    return sorted(names, key=lambda n: int(_OUTPUT_INDEX.match(n).group(1)))


class LiteRTModel:
    """One interpreter for one TFLite file; ``run`` is serialized (interpreters are not
    thread-safe) and resizes the batch dimension as needed."""

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        self.path = Path(path)
        self.num_threads = num_threads or default_threads()
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=self.num_threads)
        self._runner = self.interpreter.get_signature_runner(SIGNATURE)
        (self.input_name,) = self._runner.get_input_details()
        input_details = self._runner.get_input_details()[self.input_name]
        self.input_shape = tuple(int(d) for d in input_details["shape_signature"])
        self.input_dtype = input_details["dtype"]
        self.output_names = _output_order(list(self._runner.get_output_details()))
        self._lock = threading.Lock()

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run one batch ``[n, *input_shape[1:]]``; outputs in the documented order."""
        batch = np.ascontiguousarray(batch, dtype=self.input_dtype)
        if batch.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"expected input [n, {self.input_shape[1:]}], got {batch.shape}")
        with self._lock:
            result = self._runner(**{self.input_name: batch})
        return [result[name] for name in self.output_names]
