"""Species, sightings, photos waiting between identify and save, and model promotions."""

from __future__ import annotations

import datetime
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from ml import constants as ml_constants


def _random_key(folder: str, filename: str) -> str:
    """Object keys are random: a user's file name never reaches storage."""
    suffix = PurePosixPath(filename).suffix.lower() or ".jpg"
    return f"{folder}/{uuid.uuid4().hex}{suffix}"


def species_photo_key(instance: SpeciesPhoto, filename: str) -> str:
    return _random_key(f"species/{instance.species.slug}", filename)


def sighting_photo_key(instance: Sighting, filename: str) -> str:
    return _random_key("sightings", filename)


def pending_photo_key(instance: PendingPhoto, filename: str) -> str:
    return _random_key("pending", filename)


class Verdict(models.TextChoices):
    """`ml.constants.Verdict` with the words the site shows."""

    BIRD = ml_constants.Verdict.BIRD.value, "Bird"
    UNCERTAIN = ml_constants.Verdict.UNCERTAIN.value, "Not sure"
    NO_BIRD = ml_constants.Verdict.NO_BIRD.value, "No bird recognised"


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private"
    PUBLIC = "public", "Public"


class BoxSource(models.TextChoices):
    """Where the region the classifier looked at came from (`ml.predict.Prediction.box_source`)."""

    FINDER = "finder", "Found automatically"
    PERSON = "person", "Chosen by the person"
    FULL = "full", "The whole photo"


# The largest count a sighting holds (PostgreSQL's integer; SQLite would take more).
MAX_COUNT = 2_147_483_647

# A box side is never smaller than this many pixels (ml.finder.MIN_BOX_PIXELS).
MIN_BOX_SIDE = 16


class BoxMixin(models.Model):
    """The region of the photo the suggestions come from, in pixels of the photo upright (EXIF
    orientation applied) at its ORIGINAL size, which `photo_width` x `photo_height` record (the
    stored copy may be smaller). The four box fields are all set or all null (null: none was
    recorded, e.g. a photo smaller than the minimum box, or a row older than boxes)."""

    box_x = models.PositiveIntegerField(null=True, blank=True)
    box_y = models.PositiveIntegerField(null=True, blank=True)
    box_width = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(MIN_BOX_SIDE)]
    )
    box_height = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(MIN_BOX_SIDE)]
    )
    box_source = models.CharField(max_length=16, choices=BoxSource.choices, default=BoxSource.FULL)
    photo_width = models.PositiveIntegerField(null=True, blank=True)
    photo_height = models.PositiveIntegerField(null=True, blank=True)

    FIELDS = (
        "box_x",
        "box_y",
        "box_width",
        "box_height",
        "box_source",
        "photo_width",
        "photo_height",
    )

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(box_x__isnull=True, box_y__isnull=True)
                & Q(box_width__isnull=True, box_height__isnull=True)
                | Q(box_x__isnull=False, box_y__isnull=False)
                & Q(box_width__isnull=False, box_height__isnull=False),
                name="%(app_label)s_%(class)s_box_all_or_none",
            ),
            models.CheckConstraint(
                condition=Q(box_x__isnull=True)
                | Q(box_x__gte=0, box_y__gte=0)
                & Q(box_width__gte=MIN_BOX_SIDE, box_height__gte=MIN_BOX_SIDE),
                name="%(app_label)s_%(class)s_box_sides",
            ),
            models.CheckConstraint(
                condition=Q(photo_width__isnull=True, photo_height__isnull=True)
                | Q(photo_width__isnull=False, photo_height__isnull=False)
                & Q(photo_width__gte=1, photo_height__gte=1),
                name="%(app_label)s_%(class)s_photo_size",
            ),
            models.CheckConstraint(
                condition=Q(box_x__isnull=True)
                | Q(photo_width__isnull=False)
                & Q(box_x__lte=F("photo_width") - F("box_width"))
                & Q(box_y__lte=F("photo_height") - F("box_height")),
                name="%(app_label)s_%(class)s_box_inside_photo",
            ),
            models.CheckConstraint(
                condition=Q(box_source__in=BoxSource.values)
                & (Q(box_source=BoxSource.FULL) | Q(box_x__isnull=False)),
                name="%(app_label)s_%(class)s_box_source_valid",
            ),
        ]

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        """(x, y, width, height) in original upright pixels, or None."""
        if self.box_x is None:
            return None
        return (self.box_x, self.box_y, self.box_width, self.box_height)

    @property
    def photo_size(self) -> tuple[int, int] | None:
        if self.photo_width is None:
            return None
        return (self.photo_width, self.photo_height)


class Species(models.Model):
    """One bird species; matched to a model's labels by `name` (the BIRDS-525 label)."""

    name = models.CharField(max_length=120, unique=True)
    scientific_name = models.CharField(max_length=160, blank=True)
    slug = models.SlugField(max_length=140, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "species"

    def __str__(self) -> str:
        return self.name.title()

    @property
    def display_name(self) -> str:
        return self.name.title()


class SpeciesPhoto(models.Model):
    species = models.ForeignKey(Species, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(upload_to=species_photo_key)
    source_name = models.CharField(max_length=255, help_text="File name in the data set.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["species", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["species", "source_name"], name="classifier_speciesphoto_unique_source"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.species} photo {self.position}"


def coordinate_field(*, limit: int) -> models.DecimalField:
    """An optional coordinate in degrees within +-limit (micro-degree precision, ~0.1 m)."""
    return models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-limit), MaxValueValidator(limit)],
    )


class PlaceMixin(models.Model):
    place_name = models.CharField(max_length=200, blank=True)
    latitude = coordinate_field(limit=90)
    longitude = coordinate_field(limit=180)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="%(app_label)s_%(class)s_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="%(app_label)s_%(class)s_longitude_range",
            ),
        ]


def verdict_is_known(*, name: str) -> models.CheckConstraint:
    """The database refuses a verdict the classifier never gives (pending photos and sightings)."""
    return models.CheckConstraint(condition=Q(verdict__in=Verdict.values), name=name)


class PendingPhoto(BoxMixin, PlaceMixin):
    """A photo identified but not saved yet; the cleanup command removes abandoned ones.

    `place_name`/`latitude`/`longitude` hold the location read from the photo's EXIF (which is
    stripped from the stored file), offered to the user as the sighting's place.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    session_key = models.CharField(max_length=64, blank=True, db_index=True)
    photo = models.ImageField(upload_to=pending_photo_key)
    suggestions = models.JSONField(default=list)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    model_version = models.CharField(max_length=64)
    taken_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            *PlaceMixin.Meta.constraints,
            *BoxMixin.Meta.constraints,
            verdict_is_known(name="classifier_pendingphoto_verdict_valid"),
        ]

    def __str__(self) -> str:
        return f"Pending photo {self.id}"


class Sighting(BoxMixin, PlaceMixin):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sightings"
    )
    photo = models.ImageField(upload_to=sighting_photo_key)
    # The model's top-k: [{"species": name, "probability": p}, ...], best first.
    suggestions = models.JSONField(default=list)
    model_version = models.CharField(max_length=64)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    # The species the user confirmed; null means "unknown".
    species = models.ForeignKey(
        Species, null=True, blank=True, on_delete=models.PROTECT, related_name="sightings"
    )
    observed_at = models.DateTimeField()
    # The month of `observed_at` in the site's time zone (1-12), kept by `save`: "seen near here"
    # asks by month of any year through the index below (a stored column, not a function of
    # `observed_at`, so SQLite and PostgreSQL use the same plain index).
    observed_month = models.PositiveSmallIntegerField(
        editable=False, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    # How many birds were counted; null: present, not counted (eBird's "X").
    count = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_COUNT)]
    )
    notes = models.TextField(blank=True, max_length=5000)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(PlaceMixin.Meta):
        ordering = ["-observed_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-observed_at"]),
            # "Seen near here" (classifier.selectors.nearby): equality on the first three, a
            # range on latitude, longitude checked in the index.
            models.Index(
                fields=["species", "observed_month", "visibility", "latitude", "longitude"],
                name="classifier_sighting_nearby",
            ),
        ]
        constraints = [
            *PlaceMixin.Meta.constraints,
            *BoxMixin.Meta.constraints,
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False),
                name="classifier_sighting_lat_lon_together",
            ),
            verdict_is_known(name="classifier_sighting_verdict_valid"),
            models.CheckConstraint(
                condition=Q(visibility__in=Visibility.values),
                name="classifier_sighting_visibility_valid",
            ),
            models.CheckConstraint(
                condition=Q(count__isnull=True) | Q(count__gte=1),
                name="classifier_sighting_count_positive",
            ),
            models.CheckConstraint(
                condition=Q(observed_month__gte=1, observed_month__lte=12),
                name="classifier_sighting_observed_month_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.species or 'Unknown bird'} ({self.observed_at:%Y-%m-%d})"

    def save(self, *args, **kwargs) -> None:
        self.observed_month = local_month(self.observed_at)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "observed_at" in update_fields:
            kwargs["update_fields"] = {*update_fields, "observed_month"}
        super().save(*args, **kwargs)

    def clean_fields(self, exclude=None) -> None:
        self.observed_month = local_month(self.observed_at)
        if self.observed_month is None:  # no date: the date field's own error says so
            exclude = {*(exclude or ()), "observed_month"}
        super().clean_fields(exclude=exclude)


def local_month(moment: object) -> int | None:
    """The month (1-12) of a moment in the site's time zone (a naive one as it is); None for
    anything that is not a datetime."""
    if not isinstance(moment, datetime.datetime):
        return None
    return (moment if timezone.is_naive(moment) else timezone.localtime(moment)).month


class ModelPromotion(models.Model):
    """The record of each switch of the site's active model (promotion or rollback)."""

    class Action(models.TextChoices):
        PROMOTE = "promote"
        ROLLBACK = "rollback"

    action = models.CharField(max_length=16, choices=Action.choices)
    version = models.CharField(max_length=64)
    model_path = models.CharField(max_length=500)
    metrics = models.JSONField(default=dict)
    performed_by = models.CharField(max_length=150)
    performed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-performed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.version}"
