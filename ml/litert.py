"""Thin LiteRT wrapper: runs the TFLite files of ``ml.export`` without importing TensorFlow.

Web workers and the feature extractor both use it. XNNPACK is LiteRT's default CPU delegate
(applied by the default op resolver); ``num_threads`` defaults to ``ml.threads``.

The TFLite file contract (this module owns it; ``ml.export`` writes it): one signature,
``serving_default``, with one input ``images`` (the Keras model's input shape, batch dimension
dynamic) and outputs named ``output_0``, ``output_1``, ... in the order of the Keras model's
outputs. TFLite may store output tensors in any order: they are sorted back by that index here.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from ml.threads import default_threads

INPUT_NAME = "images"
SIGNATURE = "serving_default"
OUTPUT_PREFIX = "output_"
_OUTPUT_INDEX = re.compile(rf"^{OUTPUT_PREFIX}(\d+)$")


def output_name(index: int) -> str:
    """The name of the Keras model's output `index` in the TFLite file."""
    return f"{OUTPUT_PREFIX}{index}"


def _output_order(names: list[str]) -> list[str]:
    """``output_<i>`` names sorted by index (not as text: output_10 comes after output_2)."""
    unknown = [n for n in names if not _OUTPUT_INDEX.match(n)]
    if unknown:
        raise ValueError(f"outputs {unknown} are not named output_<i>: not made by ml.export")
    return sorted(names, key=lambda n: int(_OUTPUT_INDEX.match(n).group(1)))


def signature_tensors(path: str | Path) -> tuple[str, list[str]]:
    """The tensor names of the serving signature's input and of its outputs in ``output_<i>``
    order, read from the file itself (flatbuffers only: no interpreter is loaded). Other
    runtimes name the TFLite file's tensors by these names, in an order of their own."""
    model = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    signatures = [model.SignatureDefs(i) for i in range(model.SignatureDefsLength())]
    matching = [s for s in signatures if s.SignatureKey().decode() == SIGNATURE]
    if not matching:
        raise ValueError(f"{path} has no {SIGNATURE!r} signature: not made by ml.export")
    (signature,) = matching
    tensors = model.Subgraphs(signature.SubgraphIndex())

    def tensor_names(maps: list) -> dict[str, str]:
        return {m.Name().decode(): tensors.Tensors(m.TensorIndex()).Name().decode() for m in maps}

    inputs = tensor_names([signature.Inputs(i) for i in range(signature.InputsLength())])
    outputs = tensor_names([signature.Outputs(i) for i in range(signature.OutputsLength())])
    if list(inputs) != [INPUT_NAME]:
        raise ValueError(f"{path}: inputs {list(inputs)}, expected [{INPUT_NAME!r}]")
    return inputs[INPUT_NAME], [outputs[name] for name in _output_order(list(outputs))]


def checked_batch(batch: np.ndarray, *, input_shape: tuple[int, ...], dtype) -> np.ndarray:
    """`batch` as the contiguous array of `dtype` a runtime takes; ValueError unless it is
    ``[n, *input_shape[1:]]`` (every runtime of our model files checks its input this way)."""
    batch = np.ascontiguousarray(batch, dtype=dtype)
    if batch.shape[1:] != tuple(input_shape[1:]):
        raise ValueError(f"expected input [n, {input_shape[1:]}], got {batch.shape}")
    return batch


class LiteRTModel:
    """One interpreter for one TFLite file; ``run`` is serialized (interpreters are not
    thread-safe) and resizes the batch dimension as needed."""

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter  # the native library: only when used

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
        batch = checked_batch(batch, input_shape=self.input_shape, dtype=self.input_dtype)
        with self._lock:
            result = self._runner(**{self.input_name: batch})
        return [result[name] for name in self.output_names]
