"""OpenVINO running the TFLite file of a model directory directly (no conversion step).

OpenVINO names the outputs by their TFLite tensor names, in an order of its own: they are put
back in ``output_<i>`` order through the file's signature (``ml.litert.signature_tensors``).
bf16 is asked for only where OpenVINO reports that this CPU runs it (``supports_bf16``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import openvino as ov

from ml.litert import checked_batch, signature_tensors
from ml.threads import default_threads

PRECISIONS = {"fp32": "f32", "bf16": "bf16"}  # our precision -> INFERENCE_PRECISION_HINT


def supports_bf16() -> bool:
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVINOModel:
    """One compiled model and one infer request; ``run`` is serialized like ``LiteRTModel``."""

    def __init__(self, path: str | Path, *, precision: str, num_threads: int | None = None):
        if precision not in PRECISIONS:
            raise ValueError(f"OpenVINO precision {precision!r}: one of {sorted(PRECISIONS)}")
        if precision == "bf16" and not supports_bf16():
            raise ValueError("OpenVINO reports no bf16 support on this CPU")
        self.path = Path(path)
        self.num_threads = num_threads or default_threads()
        core = ov.Core()
        compiled = core.compile_model(
            core.read_model(str(self.path)),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": PRECISIONS[precision],
                "INFERENCE_NUM_THREADS": self.num_threads,
                "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY",
            },
        )
        input_name, output_names = signature_tensors(self.path)
        by_name = {name: port for port in compiled.outputs for name in port.get_names()}
        self._outputs = [by_name[name] for name in output_names]
        self._input = compiled.input(input_name)
        self.input_shape = tuple(
            d.get_length() if d.is_static else -1 for d in self._input.get_partial_shape()
        )
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        batch = checked_batch(batch, input_shape=self.input_shape, dtype=np.float32)
        with self._lock:
            result = self._request.infer({self._input: batch})
            return [np.array(result[port]) for port in self._outputs]
