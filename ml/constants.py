"""The numbers and names every stage agrees on: what the backbone takes and gives, and the three
answers a photo can get. Serving, training, evaluation and the Django models all read them here."""

from __future__ import annotations

import enum

IMAGE_SIZE = 224  # the backbone's input side in pixels (every view is resized to it)
FEATURES = 1280  # width of the backbone's pooled features (the head's input)
BIRD_MAP_SIDE = IMAGE_SIZE // 32  # the last feature map's side (stride 32): the bird map's cells


class Verdict(enum.StrEnum):
    """What the site tells a person about a photo."""

    BIRD = "bird"  # a confident species answer
    UNCERTAIN = "uncertain"  # a bird, but no species is sure enough ("Not sure")
    NO_BIRD = "no_bird"  # no bird recognised
