"""The classifier head on backbone features, its parameters, and the serving model around it.

Head (the original project's design): pooled features (1280) -> Dropout -> Dense(relu) ->
Dropout -> Dense(relu) -> Dense(n_species) logits -> softmax. The serving model chains the
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
FEATURES = 1280


@dataclass(frozen=True)
class HeadParams:
    """Head architecture and training parameters (JSON-serialisable; see `load_params`)."""

    dense1: int = 1024
    dense2: int = 512
    dropout_in: float = 0.3
    dropout_mid: float = 0.3
    l2_normalize: bool = True
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    batch_size: int = 128
    epochs: int = 40
    patience: int = 10
    train_views: int = 6
    # 1: serve the photo as it is; 2 also averages its mirror image (twice the inference cost,
    # which the serving latency targets cannot afford on two cores).
    tta_views: int = 1
    views_per_epoch: int = 3  # times each photo is shown per epoch, each with a random view

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}"
            )
        for name in (
            "dense1",
            "dense2",
            "batch_size",
            "epochs",
            "train_views",
            "tta_views",
            "views_per_epoch",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("dropout_in", "dropout_mid", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1)")
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


def build_head(n_species: int, params: HeadParams = DEFAULT_PARAMS, seed: int = 0) -> keras.Model:
    """The head, outputting LOGITS (temperature scaling and softmax are added for serving)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((FEATURES,), name="features")
    x = inputs
    if params.l2_normalize:
        x = keras.layers.UnitNormalization(name="l2_normalize")(x)
    x = keras.layers.Dropout(params.dropout_in, name="dropout_in")(x)
    x = keras.layers.Dense(params.dense1, activation="relu", name="dense1")(x)
    x = keras.layers.Dropout(params.dropout_mid, name="dropout_mid")(x)
    x = keras.layers.Dense(params.dense2, activation="relu", name="dense2")(x)
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
    bird_class_ids: list[int] | tuple[int, ...],
    temperature: float = 1.0,
    tta_views: int = 1,
) -> keras.Model:
    """Raw 0..255 pixels [n,224,224,3] -> (calibrated species probabilities [n,N], bird mass [n,1]).

    With `tta_views=2` the head's logits are averaged over the image and its mirror image.
    """
    import keras
    from keras import ops

    pixels = keras.Input((224, 224, 3), name="images")
    pooled, imagenet_logits = backbone(pixels)
    logits = head(pooled)
    if tta_views == 2:
        mirrored, _ = backbone(ops.flip(pixels, axis=2))
        logits = (logits + head(mirrored)) / 2.0
    species = ops.softmax(logits / float(temperature), axis=-1)
    imagenet = ops.softmax(imagenet_logits, axis=-1)
    bird = ops.sum(ops.take(imagenet, list(bird_class_ids), axis=-1), axis=-1, keepdims=True)
    return keras.Model(pixels, [species, bird], name="birdsite_classifier")


def parameter_count(model: keras.Model) -> int:
    return int(model.count_params())
