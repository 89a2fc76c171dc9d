"""The month of each sighting (site's time zone) and the index "seen near here" asks through."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import migrations, models
from django.utils import timezone


def fill_months(apps, schema_editor) -> None:
    Sighting = apps.get_model("classifier", "Sighting")
    for sighting in Sighting.objects.only("pk", "observed_at").iterator():
        month = timezone.localtime(sighting.observed_at).month
        Sighting.objects.filter(pk=sighting.pk).update(observed_month=month)


class Migration(migrations.Migration):
    dependencies = [("classifier", "0004_sighting_count")]

    operations = [
        migrations.AddField(
            model_name="sighting",
            name="observed_month",
            field=models.PositiveSmallIntegerField(
                default=1,
                editable=False,
                validators=[MinValueValidator(1), MaxValueValidator(12)],
            ),
            preserve_default=False,
        ),
        migrations.RunPython(fill_months, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="sighting",
            constraint=models.CheckConstraint(
                condition=models.Q(observed_month__gte=1, observed_month__lte=12),
                name="classifier_sighting_observed_month_range",
            ),
        ),
        migrations.AddIndex(
            model_name="sighting",
            index=models.Index(
                fields=["species", "observed_month", "visibility", "latitude", "longitude"],
                name="classifier_sighting_nearby",
            ),
        ),
    ]
