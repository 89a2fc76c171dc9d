"""Reads of identification: the photo waiting to be saved, and its suggestions joined with the
gallery."""

from __future__ import annotations

import threading
import time
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
    # "Seen near here" (classifier.selectors.nearby): None when no place was known to ask about.
    seen_nearby: bool | None = None

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


# How long a worker trusts its copy of the catalogue: `load_species` runs in another process, so
# a change there reaches the workers within this time (changes made in the worker at once).
CATALOGUE_TTL_SECONDS = 30.0


class _Catalogue:
    """The gallery entries (with their sample photos) by species name, read once per worker and
    TTL, not for every answer: an answer names up to k species, and fetching them per request
    cost two queries and an eighth of a predict request's time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, Species] | None = None
        self._loaded_at = float("-inf")

    def by_name(self) -> dict[str, Species]:
        by_name = self._by_name
        if by_name is not None and time.monotonic() - self._loaded_at < CATALOGUE_TTL_SECONDS:
            return by_name
        with self._lock:
            if self._by_name is None or time.monotonic() - self._loaded_at >= CATALOGUE_TTL_SECONDS:
                self._by_name = {s.name: s for s in with_first_photo(Species.objects.all())}
                self._loaded_at = time.monotonic()
            return self._by_name

    def forget(self) -> None:
        with self._lock:
            self._by_name = None


catalogue = _Catalogue()


def forget_catalogue() -> None:
    """Read the catalogue again at the next answer (a species or its photos changed here)."""
    catalogue.forget()


def suggestions_with_species(*, suggestions: list[dict]) -> list[SuggestedSpecies]:
    """The stored top-k (`[{"species", "probability"}]`) joined with gallery entries."""
    species_by_name = catalogue.by_name()
    return [
        SuggestedSpecies(
            name=item["species"],
            probability=float(item["probability"]),
            species=species_by_name.get(item["species"]),
        )
        for item in suggestions
    ]
