# An optional count on a sighting (eBird wants one): a positive integer, or null for "present,
# not counted" (eBird's "X"); the database refuses zero.

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("classifier", "0003_pendingphoto_verdict_valid")]

    operations = [
        migrations.AddField(
            model_name="sighting",
            name="count",
            field=models.PositiveIntegerField(
                blank=True,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(2147483647),
                ],
            ),
        ),
        migrations.AddConstraint(
            model_name="sighting",
            constraint=models.CheckConstraint(
                condition=models.Q(("count__isnull", True), ("count__gte", 1), _connector="OR"),
                name="classifier_sighting_count_positive",
            ),
        ),
    ]
