"""Forms of the site: the sighting details a person confirms or edits, the log filters and the
life list's order."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from classifier.models import Species, Visibility
from classifier.selectors.gallery import find_species
from classifier.selectors.identification import SuggestedSpecies
from classifier.selectors.life_list import LifeListSort

OTHER_SPECIES = "__other__"
UNKNOWN_SPECIES = "__unknown__"
DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def coordinate_field(label: str, *, limit: int) -> forms.DecimalField:
    """An optional coordinate in degrees, within +-limit, stored like the model's (9, 6)."""
    return forms.DecimalField(
        required=False,
        min_value=Decimal(-limit),
        max_value=Decimal(limit),
        max_digits=9,
        decimal_places=6,
        label=label,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )


class SightingForm(forms.Form):
    """Species (one of the suggestions, another one typed, or unknown), when, where, notes.

    The species choice is rendered by hand in the template (suggestion cards); the other fields
    use the shared field template.
    """

    species_choice = forms.ChoiceField(widget=forms.RadioSelect, label="Species")
    other_species = forms.CharField(
        required=False,
        max_length=160,
        label="Another species",
        widget=forms.TextInput(attrs={"list": "species-names", "autocomplete": "off"}),
        help_text="Start typing a common or scientific name.",
    )
    observed_at = forms.DateTimeField(
        label="Seen on",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL_FORMAT),
    )
    count = forms.IntegerField(
        required=False,
        min_value=1,
        label="How many",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text="Leave empty if you did not count them.",
    )
    place_name = forms.CharField(
        required=False,
        max_length=200,
        label="Place",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "placeholder": "e.g. Lake Shore Park"}
        ),
    )
    latitude = coordinate_field("Latitude", limit=90)
    longitude = coordinate_field("Longitude", limit=180)
    notes = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    visibility = forms.ChoiceField(
        choices=Visibility.choices,
        initial=Visibility.PRIVATE,
        widget=forms.RadioSelect,
        label="Who can see it",
        help_text="Public sightings show others the species, date and an approximate place.",
    )

    def __init__(self, *args, suggestions: list[SuggestedSpecies], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.suggestions = suggestions
        self.fields["species_choice"].choices = [
            *((s.name, s.display_name) for s in suggestions if s.species is not None),
            (OTHER_SPECIES, "Another species"),
            (UNKNOWN_SPECIES, "I don't know"),
        ]

    @classmethod
    def initial_species(cls, species: Species | None, suggestions: list[SuggestedSpecies]) -> dict:
        """Initial values selecting `species` among the choices (or typed in as another one)."""
        if species is None:
            return {"species_choice": UNKNOWN_SPECIES}
        if any(s.name == species.name for s in suggestions):
            return {"species_choice": species.name}
        return {"species_choice": OTHER_SPECIES, "other_species": species.display_name}

    def clean(self) -> dict:
        data = super().clean()
        choice = data.get("species_choice")
        if choice == OTHER_SPECIES:
            typed = data.get("other_species", "")
            data["species"] = find_species(text=typed)
            if data["species"] is None:
                self.add_error(
                    "other_species",
                    "Pick a species from the list (common or scientific name)."
                    if typed
                    else "Type the species you saw, or choose “I don't know”.",
                )
        elif choice == UNKNOWN_SPECIES:
            data["species"] = None
        elif choice:
            data["species"] = next(
                s.species for s in self.suggestions if s.name == choice and s.species
            )
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            self.add_error(
                "longitude" if data.get("longitude") is None else "latitude",
                "Give both latitude and longitude, or neither.",
            )
        return data

    def sighting_fields(self) -> dict:
        """The cleaned values as keyword arguments of the sighting services."""
        data = self.cleaned_data
        return {
            "species": data["species"],
            "observed_at": data["observed_at"],
            "count": data["count"],
            "place_name": data["place_name"],
            "latitude": data["latitude"],
            "longitude": data["longitude"],
            "notes": data["notes"],
            "visibility": data["visibility"],
        }


class SightingFilterForm(forms.Form):
    species = forms.CharField(
        required=False,
        label="Species",
        widget=forms.TextInput(attrs={"list": "species-names", "autocomplete": "off"}),
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean_species(self) -> Species | None:
        text = self.cleaned_data["species"]
        if not text:
            return None
        species = find_species(text=text)
        if species is None:
            raise forms.ValidationError("No species of that name.")
        return species

    def clean(self) -> dict:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class LifeListSortForm(forms.Form):
    sort = forms.ChoiceField(
        required=False,
        choices=LifeListSort.choices,
        label="Sort by",
        error_messages={
            "invalid_choice": "Sort by "
            + ", ".join(f"“{value}”" for value in LifeListSort.values)
            + "; “%(value)s” is not one of them."
        },
    )

    def sort_order(self) -> LifeListSort:
        """The order asked for; the first-seen order when none (or a bad one) was given."""
        chosen = self.cleaned_data.get("sort") if self.is_valid() else None
        return LifeListSort(chosen or LifeListSort.FIRST)
