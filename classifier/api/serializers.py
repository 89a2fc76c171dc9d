"""Thin serializers: field shapes and input validation; reads go through classifier.selectors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from accounts.models import User
from classifier.models import MIN_BOX_SIDE, BoxSource, Sighting, Species, Verdict
from classifier.selectors.gallery import find_species
from classifier.selectors.identification import SuggestedSpecies, suggestions_with_species
from classifier.selectors.life_list import LifeListEntry, LifeListSort
from classifier.selectors.nearby import NEAR_RADIUS_KM
from classifier.selectors.sightings import Place, place_for_viewer
from core import storage

MAX_K = 20
NULLABLE_NUMBER = {"type": "number", "format": "double", "nullable": True}
BOX_HELP = (
    'Where the bird is: "x,y,width,height" in whole pixels of the photo as it is shown upright '
    "(after its EXIF orientation is applied) at its ORIGINAL size. The classifier looks at a "
    "square around it. Optional: without it the bird finder decides. A box reaching outside the "
    f"photo, with a side that is not a positive whole number or smaller than {MIN_BOX_SIDE} px, "
    "is refused with 400 (code `invalid_box`) and nothing is stored."
)
USED_BOX_HELP = (
    "The region the suggestions come from, [x, y, width, height] in pixels of the photo upright "
    'at its original size: a square around the person\'s box (`box_source` "person"), around '
    'the bird the finder located ("finder"), or the whole photo ("full"). Null only for '
    "a photo smaller than the minimum box (and for sightings recorded before boxes were kept)."
)
BOX_SOURCE_HELP = (
    'Where `box` came from: "finder" (found automatically), "person" (the box sent) or '
    '"full" (the whole photo).'
)


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*$",
        "example": "120,80,300,260",
        "description": BOX_HELP,
    }
)
class BoxTextField(serializers.CharField):
    """The person's box as sent; classifier.boxes checks it against the decoded photo."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            required=False, allow_blank=True, max_length=200, help_text=BOX_HELP, **kwargs
        )


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "integer", "minimum": 0},
        "minItems": 4,
        "maxItems": 4,
        "nullable": True,
        "example": [96, 64, 320, 320],
        "description": USED_BOX_HELP,
    }
)
class UsedBoxField(serializers.Field):
    """A (x, y, width, height) tuple, or None, as a JSON array."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Any) -> list[int] | None:
        return None if value is None else [int(v) for v in value]


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer (validation errors add per-field `errors`)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(required=False)


@extend_schema_field({"type": "string", "format": "binary"})
class UploadField(serializers.FileField):
    """An uploaded file, taken as is: classifier.uploads decides by content if it is an image."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_empty_file=True, **kwargs)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, style={"input_type": "password"}
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class AccountSerializer(serializers.ModelSerializer):
    """Your account; only `share_photos_for_training` can be changed."""

    class Meta:
        model = User
        fields = [
            "username",
            "email",
            "date_joined",
            "share_photos_for_training",
            "training_consent_changed_at",
        ]
        read_only_fields = ["username", "email", "date_joined", "training_consent_changed_at"]
        extra_kwargs = {"share_photos_for_training": {"required": True}}


@extend_schema_field(
    {"oneOf": [{"type": "integer"}, {"type": "string"}], "description": "Species id or name."}
)
class SpeciesField(serializers.RelatedField):
    """A species given by id, or by common or scientific name (any case)."""

    default_error_messages = {"does_not_exist": "No species with id or name {value!r}."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=Species.objects.all(), **kwargs)

    def to_internal_value(self, data: Any) -> Species:
        value = str(data).strip()
        if "\x00" in value:  # no name contains it, and the database refuses to compare it
            self.fail("does_not_exist", value=value[:100])
        if value.isdigit() and len(value) < 19:  # fits a bigint: an id
            species = self.get_queryset().filter(pk=int(value)).first()
        else:
            species = find_species(text=value)
        if species is None:
            self.fail("does_not_exist", value=value[:100])
        return species

    def to_representation(self, value: Species) -> int:
        return value.pk


class SpeciesRefSerializer(serializers.ModelSerializer):
    """A species as other resources mention it. `id` and `url` are null for a label the model
    knows but the catalogue was not loaded with."""

    id = serializers.IntegerField(allow_null=True, read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Species
        fields = ["id", "name", "scientific_name", "url"]

    def get_url(self, species: Species) -> str | None:
        if species.pk is None:
            return None
        return reverse(
            "api:species-detail", kwargs={"slug": species.slug}, request=self.context.get("request")
        )


class SuggestionSerializer(serializers.Serializer):
    """One of the model's suggestions (a `selectors.identification.SuggestedSpecies`)."""

    species = serializers.SerializerMethodField()
    probability = serializers.FloatField()

    @extend_schema_field(SpeciesRefSerializer)
    def get_species(self, suggestion: SuggestedSpecies) -> dict[str, Any]:
        species = suggestion.species or Species(name=suggestion.name)
        return SpeciesRefSerializer(species, context=self.context).data


def coordinate_field(*, limit: int, name: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=9,
        decimal_places=6,
        min_value=Decimal(-limit),
        max_value=Decimal(limit),
        required=False,
        allow_null=True,
        help_text=f"{name} in degrees, for seen_nearby (with the other; else the photo's EXIF "
        "position).",
    )


class PredictRequestSerializer(serializers.Serializer):
    image = UploadField()
    k = serializers.IntegerField(min_value=1, max_value=MAX_K, default=5)
    box = BoxTextField()
    latitude = coordinate_field(limit=90, name="Latitude")
    longitude = coordinate_field(limit=180, name="Longitude")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("latitude") is None) != (attrs.get("longitude") is None):
            raise serializers.ValidationError(
                {"latitude": ["Give latitude and longitude together, or neither."]}
            )
        return attrs


class MarkedSuggestionSerializer(SuggestionSerializer):
    """A suggestion in the predict and create answers, marked with "seen near here"."""

    seen_nearby = serializers.BooleanField(
        allow_null=True,
        help_text=f"Whether the species was logged publicly within about {NEAR_RADIUS_KM:.0f} "
        "km of the photo's place in the same month of any year (the place rounded to about 10 "
        "km first; a yes or no only). Null when no place is known: none given and none in the "
        "photo's EXIF. It marks; the order stays the model's.",
    )


class ModelVersionSerializer(serializers.Serializer):
    version = serializers.CharField()


class PredictionSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Verdict.choices)
    model = ModelVersionSerializer()
    predictions = MarkedSuggestionSerializer(many=True)
    box = UsedBoxField()
    box_source = serializers.ChoiceField(choices=BoxSource.choices, help_text=BOX_SOURCE_HELP)
    photo_width = serializers.IntegerField(help_text="Width of the photo upright, original size.")
    photo_height = serializers.IntegerField(help_text="Height of the photo upright, original size.")


class SightingListSerializer(serializers.ListSerializer):
    """Joins the suggestions of a whole page with the catalogue in one query, not one a row."""

    def to_representation(self, data: Any) -> list[dict[str, Any]]:
        sightings = list(data)
        joined = iter(
            suggestions_with_species(
                suggestions=[item for sighting in sightings for item in sighting.suggestions]
            )
        )
        self.context["suggestions"] = {
            sighting.pk: [next(joined) for _ in sighting.suggestions] for sighting in sightings
        }
        return super().to_representation(sightings)


class SightingSerializer(serializers.ModelSerializer):
    """A sighting as read back. Others than the owner see the place coarsened (selectors)."""

    url = serializers.HyperlinkedIdentityField(view_name="api:sighting-detail")
    owner = serializers.CharField(source="owner.username", read_only=True)
    species = SpeciesRefSerializer(allow_null=True, read_only=True)
    suggestions = serializers.SerializerMethodField()
    place_name = serializers.SerializerMethodField()
    latitude = serializers.SerializerMethodField()
    longitude = serializers.SerializerMethodField()
    place_coarsened = serializers.SerializerMethodField()
    photo_url = serializers.SerializerMethodField()
    box = UsedBoxField()
    box_source = serializers.ChoiceField(
        choices=BoxSource.choices, read_only=True, help_text=BOX_SOURCE_HELP
    )
    photo_width = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Width of the photo upright, original size."
    )
    photo_height = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Height of the photo upright, original size."
    )

    class Meta:
        model = Sighting
        list_serializer_class = SightingListSerializer
        fields = [
            "id",
            "url",
            "owner",
            "species",
            "verdict",
            "suggestions",
            "model_version",
            "observed_at",
            "count",
            "place_name",
            "latitude",
            "longitude",
            "place_coarsened",
            "notes",
            "visibility",
            "photo_url",
            "box",
            "box_source",
            "photo_width",
            "photo_height",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(SuggestionSerializer(many=True))
    def get_suggestions(self, sighting: Sighting) -> list[dict[str, Any]]:
        joined = self.context.get("suggestions", {}).get(sighting.pk)
        if joined is None:
            joined = suggestions_with_species(suggestions=sighting.suggestions)
        return SuggestionSerializer(joined, many=True, context=self.context).data

    def _place(self, sighting: Sighting) -> Place:
        return place_for_viewer(sighting=sighting, user=self.context["request"].user)

    def get_place_name(self, sighting: Sighting) -> str:
        return self._place(sighting).name

    @extend_schema_field(NULLABLE_NUMBER)
    def get_latitude(self, sighting: Sighting) -> float | None:
        return _as_float(self._place(sighting).latitude)

    @extend_schema_field(NULLABLE_NUMBER)
    def get_longitude(self, sighting: Sighting) -> float | None:
        return _as_float(self._place(sighting).longitude)

    def get_place_coarsened(self, sighting: Sighting) -> bool:
        """True when the viewer is not the owner and sees coordinates rounded to ~10 km."""
        return self._place(sighting).coarsened

    def get_photo_url(self, sighting: Sighting) -> str:
        return storage.photo_url(file=sighting.photo)


class SightingCreatedSerializer(SightingSerializer):
    """The answer to a create: the sighting, its suggestions marked with "seen near here" (the
    view puts the marked suggestions in the context)."""

    @extend_schema_field(MarkedSuggestionSerializer(many=True))
    def get_suggestions(self, sighting: Sighting) -> list[dict[str, Any]]:
        marked = self.context["suggestions"][sighting.pk]
        return MarkedSuggestionSerializer(marked, many=True, context=self.context).data


def _as_float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class SightingWriteSerializer(serializers.ModelSerializer):
    """The fields an owner may set; species null means "unknown"."""

    species = SpeciesField(required=False, allow_null=True)

    class Meta:
        model = Sighting
        fields = [
            "species",
            "observed_at",
            "count",
            "place_name",
            "latitude",
            "longitude",
            "notes",
            "visibility",
        ]
        extra_kwargs = {
            "count": {"help_text": "How many birds; null (or left out) when not counted."}
        }


class SightingCreateSerializer(SightingWriteSerializer):
    photo = UploadField()
    box = BoxTextField(write_only=True)

    class Meta(SightingWriteSerializer.Meta):
        fields = ["photo", "box", *SightingWriteSerializer.Meta.fields]
        # Without a date the service takes the photo's EXIF date, else now.
        extra_kwargs = {
            **SightingWriteSerializer.Meta.extra_kwargs,
            "observed_at": {"required": False},
        }


class SightingFilterSerializer(serializers.Serializer):
    species = SpeciesField(required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


class SpeciesFilterSerializer(serializers.Serializer):
    search = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Part of a common or scientific name.",
    )


class SpeciesSerializer(SpeciesRefSerializer):
    """A catalogue entry with its first sample photo."""

    photo_url = serializers.SerializerMethodField()

    class Meta(SpeciesRefSerializer.Meta):
        fields = [*SpeciesRefSerializer.Meta.fields, "slug", "photo_url"]

    def get_photo_url(self, species: Species) -> str:
        """The first sample photo (prefetched by the catalogue selector), or empty."""
        photos = list(species.photos.all()[:1])
        return storage.photo_url(file=photos[0].image) if photos else ""


class SpeciesDetailSerializer(SpeciesSerializer):
    """A catalogue entry with all its sample photos and how often it was sighted."""

    photos = serializers.SerializerMethodField()
    sighting_count = serializers.IntegerField(read_only=True)

    class Meta(SpeciesSerializer.Meta):
        fields = [*SpeciesSerializer.Meta.fields, "photos", "sighting_count"]

    def get_photos(self, species: Species) -> list[str]:
        return [storage.photo_url(file=photo.image) for photo in species.photos.all()]


class LifeListQuerySerializer(serializers.Serializer):
    sort = serializers.ChoiceField(
        choices=LifeListSort.choices,
        default=LifeListSort.FIRST,
        help_text="first: by first seen (oldest first); name; count: most sightings first.",
    )


class LifeListEntrySerializer(serializers.Serializer):
    """A species on the life list (a `selectors.life_list.LifeListEntry`)."""

    species = SpeciesRefSerializer()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    first_place = serializers.CharField(
        source="first_sighting.place_name", help_text="The place of the first sighting."
    )
    sightings = serializers.IntegerField(help_text="How many of your sightings are of it.")
    first_sighting = serializers.SerializerMethodField()
    photo_url = serializers.SerializerMethodField()

    def get_first_sighting(self, entry: LifeListEntry) -> str:
        return reverse(
            "api:sighting-detail",
            kwargs={"pk": entry.first_sighting.pk},
            request=self.context.get("request"),
        )

    def get_photo_url(self, entry: LifeListEntry) -> str:
        """The photo of the first sighting."""
        return storage.photo_url(file=entry.first_sighting.photo)


class PeriodTotalSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="The period's first day (site's time zone).")
    sightings = serializers.IntegerField(help_text="Sightings of identified birds.")
    species = serializers.IntegerField(help_text="Species among them.")
    new_species = serializers.IntegerField(help_text="Species first seen in the period.")


class LifeListSerializer(serializers.Serializer):
    sort = serializers.ChoiceField(choices=LifeListSort.choices)
    species = LifeListEntrySerializer(many=True, source="entries")
    years = PeriodTotalSerializer(
        many=True, help_text="Every year from the first sighting's to the last's."
    )
    months = PeriodTotalSerializer(
        many=True, help_text="Every month from the first sighting's to the last's."
    )
