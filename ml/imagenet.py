"""ImageNet-1k classes that are birds: their summed probability says "is there a bird at all"."""

from __future__ import annotations

import numpy as np

# Standard ILSVRC-2012 indices: 7 cock .. 24 great grey owl; 80 black grouse .. 100 black swan;
# 127 white stork .. 146 albatross (neighbours 6 stingray, 25 fire salamander, 79 centipede,
# 101 tusker, 126 isopod and 147 grey whale are not birds).
BIRD_CLASS_IDS: tuple[int, ...] = (
    *range(7, 25),
    *range(80, 101),
    *range(127, 147),
)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def bird_mass(logits: np.ndarray) -> np.ndarray:
    """Probability mass of the bird classes for ImageNet logits [..., 1000] -> [...]."""
    return softmax(logits)[..., list(BIRD_CLASS_IDS)].sum(axis=-1)
