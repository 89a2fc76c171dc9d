"""Reading PyTorch checkpoints with pickle + numpy, without torch.

Both torch serialization formats are handled:

- zip (torch >= 1.6): ``<root>/data.pkl`` holds the object with persistent ids
  ``("storage", storage_type, key, location, numel)``; raw little-endian storages lie
  in ``<root>/data/<key>``.
- legacy (the Lite0 checkpoint): pickled magic number, protocol version and sys_info, then the
  object (same persistent ids plus a view field), then the list of storage keys, then per key
  an int64 element count followed by the raw storage bytes.

Tensors become numpy views on the storage buffers (``_rebuild_tensor_v2`` gives offset,
size and stride), copied out once all storages are read.
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

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
