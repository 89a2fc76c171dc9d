"""The serving runtimes and how one is asked for: ``BIRDSITE_RUNTIME=auto|litert|openvino|
onnxruntime`` (an engine text such as ``openvino-bf16`` too; default ``auto``).

An ``Engine`` is a runtime at a precision. LiteRT fp32 (``REFERENCE``) is always installed and
is what every other engine is judged against (``ml.agreement``); ``auto`` serves on the fastest
engine that agreed with it on this host. A runtime's module is imported only when a model is
loaded on it, so a worker holds only the runtime it uses.

ONNX Runtime is known but not installed: it needs an ONNX file, and neither converter here makes
one it loads (tf2onnx has no op for the TFLite file's GELU; Keras' ONNX export writes an
``Erfc`` node ONNX Runtime 1.32 has no kernel for). Asked for, it fails to load and the site
serves on LiteRT.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

RUNTIME_ENV = "BIRDSITE_RUNTIME"
AUTO = "auto"
RUNTIMES = ("litert", "openvino", "onnxruntime")
PRECISIONS = ("fp32", "bf16")
# The package each runtime comes from (its version keys the agreement results).
PACKAGES = {"litert": "ai-edge-litert", "openvino": "openvino", "onnxruntime": "onnxruntime"}


class RuntimeModel(Protocol):
    """A model file loaded on one engine; ``run`` is thread-safe (runs are serialized)."""

    def run(self, batch: np.ndarray) -> list[np.ndarray]: ...


class RuntimeUnavailable(RuntimeError):
    """The engine cannot run here (not installed, no model file for it, or no CPU support)."""


@dataclass(frozen=True, order=True)
class Engine:
    runtime: str
    precision: str = "fp32"

    @property
    def key(self) -> str:
        return f"{self.runtime}-{self.precision}"

    @classmethod
    def parse(cls, text: str) -> Engine:
        """``openvino`` (fp32) or ``openvino-bf16``; ValueError names what is accepted."""
        runtime, _, precision = text.strip().lower().partition("-")
        if runtime not in RUNTIMES or (precision and precision not in PRECISIONS):
            raise ValueError(
                f"unknown runtime {text!r}: one of {', '.join(RUNTIMES)}, optionally with "
                f"-{' or -'.join(PRECISIONS)} (e.g. openvino-bf16)"
            )
        return cls(runtime, precision or "fp32")


REFERENCE = Engine("litert")


def requested() -> str:
    """What ``BIRDSITE_RUNTIME`` asks for: ``auto`` or an engine key (checked)."""
    text = os.environ.get(RUNTIME_ENV, "").strip().lower() or AUTO
    return text if text == AUTO else Engine.parse(text).key


@cache
def runtime_version(runtime: str) -> str | None:
    """The installed version of the runtime's package, None when it is not installed (read
    once per process: a worker asks at every model recheck)."""
    try:
        return metadata.version(PACKAGES[runtime])
    except metadata.PackageNotFoundError:
        return None


def candidate_engines() -> list[Engine]:
    """The engines ``auto`` may choose among on this host, REFERENCE first: every precision of
    every installed runtime that can run our model files (whether the CPU runs bf16 is the
    check's to find out, so that a worker never loads a runtime just to ask)."""
    engines = [REFERENCE]
    if runtime_version("openvino") is not None:
        engines += [Engine("openvino", precision) for precision in PRECISIONS]
    return engines


def load_model(*, model_file: Path, engine: Engine, threads: int | None = None) -> RuntimeModel:
    """The model file loaded on `engine`: an object whose ``run(batch)`` returns the outputs in
    ``output_<i>`` order (``ml.litert`` owns that contract). Raises RuntimeUnavailable."""
    if runtime_version(engine.runtime) is None:
        raise RuntimeUnavailable(f"{engine.runtime} is not installed")
    if engine.runtime == "litert":
        if engine.precision != "fp32":
            raise RuntimeUnavailable("LiteRT serves our models in fp32 only")
        from ml.litert import LiteRTModel

        return LiteRTModel(model_file, num_threads=threads)
    if engine.runtime == "openvino":
        from ml.openvino_runtime import OpenVINOModel

        try:
            return OpenVINOModel(model_file, precision=engine.precision, num_threads=threads)
        except ValueError as error:
            raise RuntimeUnavailable(str(error)) from error
    raise RuntimeUnavailable(
        "onnxruntime needs an ONNX file, and no converter here makes one it loads (see ml.runtimes)"
    )
