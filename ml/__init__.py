"""The machine-learning pipeline (no Django).

TensorFlow's and LiteRT's C++ logs and absl's go quiet here, before any of them is imported,
unless `BIRDSITE_TF_LOGS=1`: their start-up lines (CPU features, SavedModel loading, XNNPACK)
would bury what the commands say. Errors are still shown.
"""

import logging
import os

if os.environ.get("BIRDSITE_TF_LOGS", "") not in {"1", "true", "yes", "on"}:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++: errors only
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.WARNING)
