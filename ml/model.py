"""The classifier head on backbone features, its parameters, and the serving model around it.

Head (the original project's design): pooled features (1280) -> Dropout -> Dense ->
Dropout -> Dense -> Dense(n_species) logits -> softmax, after a feature normalisation
(`ml.layers.FeatureNormalization`). The serving model chains the
backbone and the head on raw pixels and adds the ImageNet bird probability mass as an output.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam")
ACTIVATIONS = ("relu", "gelu")
FEATURES = 1280


@dataclass(frozen=True)
class HeadParams:
    """Head architecture and training parameters (JSON-serialisable; see `load_params`)."""

    # Chosen on cub100 (25 photos per species, 6 views, weighted F1 on valid): hidden layers
    # 1024 wide (512 is narrower than 525 species) with GELU gave 0.909 where ReLU with
    # 1024/512 gave 0.902. Species with only a few photos get `FEW_SHOT_OVERRIDES`.
    dense1: int = 1024
    dense2: int = 1024
    activation: str = "gelu"
    dropout_in: float = 0.3
    dropout_mid: float = 0.3
    normalize_features: bool = True  # signed sqrt + L2 (ml.layers.FeatureNormalization)
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    batch_size: int = 128
    epochs: int = 50
    patience: int = 10
    train_views: int = 6
    # 1: serve the photo as it is; 2 also averages its mirror image (twice the inference cost,
    # which the serving latency targets cannot afford on two cores).
    tta_views: int = 1
    views_per_epoch: int = 3  # times each photo is shown per epoch, each with a random view
    # views of each photo from an added data folder (`ml.sources`; at most `train_views`):
    # natural photos come many per species, so fewer views each keep the first build short
    added_views: int = 2
    # loss weight of a photo ~ (photos of its species)^-class_balance: with 1, the species with
    # many natural photos pull no other species' photos towards them (see docs/architecture.md)
    class_balance: float = 1.0
    # then an added photo weighs this much against a catalogue photo: natural photos of some
    # species teach "a natural photo is one of these"; at 1 the natural photos of species left
    # out lost 3.6 points of top-1, at 0.3 0.7 (bench_ml's left-out half), at 0.1 the species
    # with natural photos lost 12 points on field/valid
    added_weight: float = 0.3

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, not {self.activation!r}"
            )
        for name in (
            "dense1",
            "dense2",
            "batch_size",
            "epochs",
            "train_views",
            "tta_views",
            "views_per_epoch",
            "added_views",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("dropout_in", "dropout_mid", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1)")
        if not 0 < self.added_weight <= 1:
            raise ValueError("added_weight must be in (0, 1]")
        if not 0 <= self.class_balance <= 1:
            raise ValueError("class_balance must be in [0, 1]")
        if self.tta_views > 2:
            raise ValueError("tta_views is 1 (plain) or 2 (plain + mirrored)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TUNED_PARAMS_FILE = Path(__file__).with_name("tuned_params.json")


def tuned_params(path: Path = TUNED_PARAMS_FILE, base: HeadParams | None = None) -> HeadParams:
    """`base` (the built-in defaults) updated with the `params` of a `tune_model
    --save-defaults` file (which also records the command, date and objective that found
    them); `base` itself when there is no such file."""
    base = base or HeadParams()
    if not path.is_file():
        return base
    values = json.loads(path.read_text())["params"]
    known = {f.name for f in dataclasses.fields(HeadParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path}: unknown parameters {', '.join(unknown)}")
    return dataclasses.replace(base, **values)


UNTUNED_PARAMS = HeadParams()  # the built-in defaults, before tuning
DEFAULT_PARAMS = tuned_params()  # what train_model uses: ml/tuned_params.json over the built-in

# With fewer training photos per species than this (median), the head is regularised harder:
# on birds525 (4 per species) dropout 0.5 and label smoothing 0.2 reach 0.80 held-out accuracy
# against 0.77, while on cub100 (25 per species) they cost 1.5 points of weighted F1. Such a
# head never stops early, so fewer epochs keep the 525-species default model under 3 minutes.
FEW_SHOT_PHOTOS = 10
FEW_SHOT_OVERRIDES = {
    "dropout_in": 0.5,
    "dropout_mid": 0.5,
    "label_smoothing": 0.2,
    "epochs": 40,
}


def default_params_for(photos_per_species: float) -> HeadParams:
    """The default parameters for a data set with this many training photos per species."""
    if photos_per_species < FEW_SHOT_PHOTOS:
        return dataclasses.replace(DEFAULT_PARAMS, **FEW_SHOT_OVERRIDES)
    return DEFAULT_PARAMS


def load_params(path: str | Path | None = None, **overrides: Any) -> HeadParams:
    """Defaults, updated from a JSON file (unknown keys are an error), then from overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        values.update(json.loads(Path(path).read_text()))
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(HeadParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"Unknown parameters: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    return dataclasses.replace(DEFAULT_PARAMS, **values)


def build_head(
    n_species: int, *, params: HeadParams = DEFAULT_PARAMS, seed: int = 0
) -> keras.Model:
    """The head, outputting LOGITS (temperature scaling and softmax are added for serving)."""
    import keras

    from ml.layers import FeatureNormalization

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((FEATURES,), name="features")
    x = inputs
    if params.normalize_features:
        x = FeatureNormalization(name="normalize_features")(x)
    x = keras.layers.Dropout(params.dropout_in, name="dropout_in")(x)
    x = keras.layers.Dense(params.dense1, activation=params.activation, name="dense1")(x)
    x = keras.layers.Dropout(params.dropout_mid, name="dropout_mid")(x)
    x = keras.layers.Dense(params.dense2, activation=params.activation, name="dense2")(x)
    logits = keras.layers.Dense(n_species, name="logits")(x)
    return keras.Model(inputs, logits, name="head")


def make_optimizer(params: HeadParams, steps: int) -> keras.optimizers.Optimizer:
    """The named optimizer with a cosine-decay learning-rate schedule over `steps`."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        params.learning_rate, max(steps, 1), alpha=0.01
    )
    if params.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=params.weight_decay)
    if params.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True)
    cls = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "nadam": keras.optimizers.Nadam,
    }
    return cls[params.optimizer](schedule)


def serving_model(
    backbone: keras.Model,
    head: keras.Model,
    *,
    bird_class_ids: list[int] | tuple[int, ...],
    temperature: float = 1.0,
    tta_views: int = 1,
) -> keras.Model:
    """Raw 0..255 pixels [n,224,224,3] -> (calibrated species probabilities [n,N], bird mass [n,1],
    bird evidence map [n,7,7] and pooled features [n,1280], both read by `ml.finder`).

    With `tta_views=2` the head's logits are averaged over the image and its mirror image.
    """
    import keras
    from keras import ops

    pixels = keras.Input((224, 224, 3), name="images")
    pooled, imagenet_logits, bird_map = backbone(pixels)
    logits = head(pooled)
    if tta_views == 2:
        mirrored = backbone(ops.flip(pixels, axis=2))[0]
        logits = (logits + head(mirrored)) / 2.0
    species = ops.softmax(logits / float(temperature), axis=-1)
    imagenet = ops.softmax(imagenet_logits, axis=-1)
    bird = ops.sum(ops.take(imagenet, list(bird_class_ids), axis=-1), axis=-1, keepdims=True)
    return keras.Model(pixels, [species, bird, bird_map, pooled], name="birdsite_classifier")


def load_keras_model(path: str | Path) -> keras.Model:
    """A saved `model.keras` (its custom layers registered first)."""
    import keras

    import ml.layers  # noqa: F401  (registers FeatureNormalization)

    return keras.saving.load_model(path)
