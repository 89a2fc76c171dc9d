"""Reads of identification: the photo waiting to be saved, and its suggestions joined with the
gallery."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser

from accounts.models import User
from classifier.models import PendingPhoto, Species
from classifier.selectors.gallery import with_first_photo


@dataclass(frozen=True)
class SuggestedSpecies:
    """One of the model's stored suggestions, joined with its gallery entry (None if the
    catalogue was not loaded with it)."""

    name: str
    probability: float
    species: Species | None

    @property
    def percent(self) -> int:
        return round(self.probability * 100)

    @property
    def display_name(self) -> str:
        return self.species.display_name if self.species else self.name.title()


def get_pending_photo(
    *, pk, user: User | AnonymousUser, session_pending_ids: list[str]
) -> PendingPhoto | None:
    """An identified photo for whoever uploaded it: its owner, or the browser session that sent it
    (kept in the session data, which survives the key rotation at log-in and sign-up). None for
    anybody else, and once it was saved or discarded."""
    pending = PendingPhoto.objects.filter(pk=pk).first()
    if pending is None:
        return None
    owned = user.is_authenticated and pending.owner_id == user.pk
    from_this_browser = str(pending.pk) in session_pending_ids and (
        pending.owner_id is None or owned
    )
    return pending if owned or from_this_browser else None


def suggestions_with_species(*, suggestions: list[dict]) -> list[SuggestedSpecies]:
    """The stored top-k (`[{"species", "probability"}]`) joined with gallery entries."""
    names = [item["species"] for item in suggestions]
    species_by_name = {s.name: s for s in with_first_photo(Species.objects.filter(name__in=names))}
    return [
        SuggestedSpecies(
            name=item["species"],
            probability=float(item["probability"]),
            species=species_by_name.get(item["species"]),
        )
        for item in suggestions
    ]
