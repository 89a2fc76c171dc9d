"""The Lite0 backbone: exact conversion from the PyTorch checkpoint, cached files, TFLite twin.

Reference logits come from the original PyTorch implementation (scripts/make_reference_logits.py);
every photo is real and nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from ml import backbone, backbone_files, torch_checkpoint
from ml.backbone import ensure_backbone
from ml.backbone_files import BackboneFiles
from ml.config import data_dir
from ml.constants import FEATURES
from ml.litert import LiteRTModel
from ml.torch_checkpoint import read_torch_checkpoint

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "lite0_reference_logits.json").read_text())
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968}  # espresso, cup

# Keras's own numpy conversion inside save/set_weights, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def rgb224(image: Image.Image) -> np.ndarray:
    """The reference preprocessing of the fixture (see its "preprocessing" steps)."""
    return np.asarray(image.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.uint8)


def reference_inputs(shared_data: Path) -> np.ndarray:
    arrays = []
    for item in REFERENCE["images"]:
        with Image.open(shared_data / item["path"]) as im:
            array = rgb224(im)
        assert hashlib.sha256(array.tobytes()).hexdigest() == item["input_sha256"], item["path"]
        arrays.append(array)
    return np.stack(arrays).astype(np.float32)


def skimage_inputs() -> np.ndarray:
    return np.stack(
        [rgb224(Image.fromarray(skdata.chelsea())), rgb224(Image.fromarray(skdata.coffee()))]
    ).astype(np.float32)


# --- checkpoint reading (numpy only) ---------------------------------------------------


@pytest.fixture(scope="module")
def state_dict() -> dict[str, np.ndarray]:
    return read_torch_checkpoint(backbone_files.lite0_checkpoint_path())


def test_checkpoint_is_the_reference_one() -> None:
    assert backbone_files.lite0_checkpoint_sha256() == REFERENCE["checkpoint_sha256"]
    assert REFERENCE["checkpoint_sha256"] == backbone_files.LITE0_SHA256


def test_checkpoint_keys_and_shapes(state_dict: dict[str, np.ndarray]) -> None:
    assert len(state_dict) == 296
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state_dict["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state_dict["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state_dict["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state_dict["_fc.weight"].shape == (1000, 1280)
    assert not any("_se_" in k for k in state_dict), "Lite0 has no squeeze-and-excitation"
    assert all(v.dtype == np.float32 for k, v in state_dict.items() if "num_batches" not in k)
    assert all(v.flags.c_contiguous and v.flags.writeable for v in state_dict.values())
    assert all(np.isfinite(v).all() for v in state_dict.values())
    assert (state_dict["_bn1.running_var"] > 0).all()


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_tiny_checkpoint_both_formats(fmt: str) -> None:
    """Both torch formats, with shared, transposed and offset views of one storage."""
    sd = read_torch_checkpoint(FIXTURES / f"tiny_{fmt}_checkpoint.pt")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(sd["a"], a)
    np.testing.assert_array_equal(sd["a_t"], a.T)
    np.testing.assert_array_equal(sd["row1"], a[1])
    assert sd["count"].shape == () and sd["count"].dtype == np.int64 and sd["count"] == 7
    np.testing.assert_array_equal(sd["half"], np.array([0.5, -2.0], np.float16))


def test_reader_refuses_foreign_globals(tmp_path: Path) -> None:
    import pickle

    bad = tmp_path / "bad.pth"
    with bad.open("wb") as f:
        for header in (
            torch_checkpoint.LEGACY_MAGIC,
            torch_checkpoint.LEGACY_PROTOCOL,
            {"little_endian": True},
        ):
            pickle.dump(header, f)
        pickle.dump(Path("x"), f)  # any global outside the allow-list
    with pytest.raises(pickle.UnpicklingError, match="refusing global"):
        read_torch_checkpoint(bad)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown backbone"):
        ensure_backbone("b7")


# --- Keras and TFLite (TensorFlow: slow) -----------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BackboneFiles, dict]]:
    """ensure_backbone into a fresh data dir (about 20 s), with the files' mtimes after it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIRDSITE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        files = ensure_backbone("lite0")
        paths = (files.weights, files.tflite, files.manifest)
        yield files, {p: p.stat().st_mtime_ns for p in paths}


@pytest.fixture(scope="module")
def keras_features(built: tuple[BackboneFiles, dict]):
    return backbone.feature_model("lite0")  # from the cached .weights.h5


@pytest.mark.slow
def test_ensure_backbone_is_cached_and_atomic(built: tuple[BackboneFiles, dict]) -> None:
    files, mtimes = built
    assert [name.split()[0] for name in files.made] == ["lite0.weights.h5", "lite0.tflite"]
    assert files.weights.parent == data_dir() / "backbone"
    again = ensure_backbone("lite0")
    assert again == files and again.made == ()
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert sorted(p.name for p in files.weights.parent.iterdir()) == [
        "lite0.json",
        "lite0.tflite",
        "lite0.weights.h5",
    ], "no temp files left"


@pytest.mark.slow
def test_cache_of_another_format_is_not_current(built: tuple[BackboneFiles, dict]) -> None:
    files, _ = built
    assert backbone_files.cache_is_current(files)
    manifest = json.loads(files.manifest.read_text())
    other = dataclasses.replace(files, manifest=files.manifest.with_name("other.json"))
    assert not backbone_files.cache_is_current(other), "no manifest: made by an older version"
    other.manifest.write_text(json.dumps({**manifest, "format": backbone_files.CACHE_FORMAT - 1}))
    try:
        assert not backbone_files.cache_is_current(other)
    finally:
        other.manifest.unlink()


@pytest.mark.slow
def test_build_backbone_command_reports_the_cached_files(built: tuple[BackboneFiles, dict]) -> None:
    from django.core.management import call_command

    files, _ = built
    out = io.StringIO()
    call_command("build_backbone", "--kind", "lite0", stdout=out)
    assert "backbone lite0: already built" in out.getvalue()
    assert str(files.weights) in out.getvalue() and str(files.tflite) in out.getvalue()


@pytest.mark.slow
def test_failed_conversion_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("keras.Model.save_weights", broken)
    with pytest.raises(OSError, match="disk full"):
        backbone.convert_lite0(tmp_path / "lite0.weights.h5")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_keras_matches_pytorch_reference(keras_features, shared_data: Path) -> None:
    _, logits, _ = keras_features.predict(reference_inputs(shared_data), verbose=0)
    expected = np.array([item["logits"] for item in REFERENCE["images"]], np.float32)
    assert np.abs(logits - expected).max() <= 1e-3
    assert list(logits.argmax(1)) == [item["top1"] for item in REFERENCE["images"]]


@pytest.mark.slow
def test_keras_classifies_skimage_photos(keras_features) -> None:
    pooled, logits, bird_map = keras_features.predict(skimage_inputs(), verbose=0)
    assert pooled.shape == (2, FEATURES) and logits.shape == (2, backbone.CLASSES)
    assert bird_map.shape == (2, 7, 7)
    cat, coffee = logits.argmax(1)
    assert cat in CATS and coffee in COFFEE


@pytest.mark.slow
def test_build_from_checkpoint_equals_converted_weights(keras_features) -> None:
    x = skimage_inputs()
    direct = backbone.build_lite0().predict(x, verbose=0)
    np.testing.assert_allclose(direct, keras_features.predict(x, verbose=0)[1], atol=1e-6)


@pytest.mark.slow
def test_tflite_agrees_with_keras(built, keras_features, shared_data: Path) -> None:
    files, _ = built
    x = np.concatenate([skimage_inputs(), reference_inputs(shared_data)])
    k_pooled, k_logits, k_map = keras_features.predict(x, verbose=0)
    runner = LiteRTModel(files.tflite, num_threads=2)
    t_pooled, t_logits, t_map = runner.run(x)
    assert t_map.shape == (len(x), 7, 7)
    np.testing.assert_allclose(t_map, k_map, atol=1e-3 * max(1.0, float(np.abs(k_map).max())))
    assert t_pooled.shape == (len(x), FEATURES)
    assert t_logits.shape == (len(x), backbone.CLASSES)
    np.testing.assert_allclose(t_pooled, k_pooled, atol=1e-4)
    np.testing.assert_allclose(t_logits, k_logits, atol=1e-4)
    assert list(t_logits.argmax(1)) == list(k_logits.argmax(1))
    one = runner.run(x[:1])  # the batch shrinks and grows again
    np.testing.assert_allclose(one[1], t_logits[:1], atol=1e-5)
    np.testing.assert_allclose(runner.run(x)[0], t_pooled, atol=1e-5)


@pytest.mark.slow
def test_b0_offline_gives_a_clear_error(monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr("keras.src.utils.file_utils.get_file", offline)
    with pytest.raises(RuntimeError, match="backbone 'b0' needs the Keras ImageNet weights"):
        backbone.build_b0()
