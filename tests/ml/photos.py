"""Real photos of the shared development collections used by the ml tests."""

from __future__ import annotations

from ml.config import shared_data_dir

BIRDS525 = shared_data_dir() / "birds525"
CUB100 = shared_data_dir() / "cub100"
BIRD_JPEG = BIRDS525 / "valid" / "ABBOTTS BABBLER" / "1.jpg"
FIELD = shared_data_dir() / "field"
NAME_MAP = shared_data_dir() / "cub-to-birds525.csv"
