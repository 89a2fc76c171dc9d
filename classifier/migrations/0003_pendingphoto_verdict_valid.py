# Pending photos get the verdict check sightings have (classifier.models.verdict_is_known).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("classifier", "0002_sighting_boxes")]

    operations = [
        migrations.AddConstraint(
            model_name="pendingphoto",
            constraint=models.CheckConstraint(
                condition=models.Q(("verdict__in", ["bird", "uncertain", "no_bird"])),
                name="classifier_pendingphoto_verdict_valid",
            ),
        ),
    ]
