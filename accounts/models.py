from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """The site's user; a custom model from day one so it can grow without a painful migration."""

    # Consent to use the photos of their chosen or confirmed sightings for training (off until
    # the person turns it on; `accounts.services.set_training_consent` keeps the moment).
    share_photos_for_training = models.BooleanField(
        "my confirmed photos may be used to improve identification",
        default=False,
        help_text=(
            "When this is on, the copies of your photos we keep (stored without EXIF data: no "
            "place, date or camera), cut to the bird's box, may be used with the species you "
            "chose or confirmed to train the identification model; turn it off and your photos "
            "are left out of the next export."
        ),
    )
    training_consent_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="accounts_user_email_ci_unique",
            ),
        ]
