"""Stored files follow their rows, and a visitor's photos follow them into their account.

A change to the species catalogue makes this worker read it again (`forget_catalogue`). Files
are deleted only once the deleting transaction commits. Cascades (account deletion,
species removal) send post_delete for every row too, so no photo outlives its row and no row
loses its photo to a rolled-back delete. At log-in and sign-up (both send `user_logged_in`), the
photos this browser identified anonymously become the account's.
"""

from __future__ import annotations

from functools import partial

from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from classifier.browser_session import pending_ids
from classifier.models import PendingPhoto, Sighting, Species, SpeciesPhoto
from classifier.selectors.identification import forget_catalogue
from classifier.services.identification import claim_pending_photos


def delete_stored_file(file_field) -> None:
    if file_field and file_field.name:
        file_field.storage.delete(file_field.name)


@receiver(post_delete, sender=Sighting, dispatch_uid="sighting_photo_cleanup")
@receiver(post_delete, sender=PendingPhoto, dispatch_uid="pending_photo_cleanup")
def _delete_photo_after_commit(sender, instance, **kwargs) -> None:
    transaction.on_commit(partial(delete_stored_file, instance.photo))


@receiver(post_delete, sender=SpeciesPhoto, dispatch_uid="species_photo_cleanup")
def _delete_species_photo_after_commit(sender, instance, **kwargs) -> None:
    transaction.on_commit(partial(delete_stored_file, instance.image))


@receiver(post_save, sender=Species, dispatch_uid="species_saved")
@receiver(post_delete, sender=Species, dispatch_uid="species_deleted")
@receiver(post_save, sender=SpeciesPhoto, dispatch_uid="species_photo_saved")
@receiver(post_delete, sender=SpeciesPhoto, dispatch_uid="species_photo_deleted")
def _catalogue_changed(sender, **kwargs) -> None:
    forget_catalogue()


@receiver(user_logged_in, dispatch_uid="claim_pending_photos")
def _claim_this_browsers_photos(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        claim_pending_photos(owner=user, pending_ids=pending_ids(request.session))
