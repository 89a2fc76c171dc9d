"""The training export: only shared, confirmed sightings; the stored copy cut to its box; the
BIRDS-525 layout `ml.data.read_dataset` reads; all or nothing. Real photos, local files and S3."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image

from accounts.services import set_training_consent
from birdsite.settings import s3_storage
from classifier.models import PendingPhoto, Sighting, Species, Verdict
from classifier.services.sightings import save_pending_photo
from classifier.services.training_export import export_training_data
from classifier.uploads import STORED_MAX_SIDE, prepare_photo
from core.storage import read_file, save_with_file
from ml.data import read_dataset
from tests.conftest import S3_CREDENTIALS
from tests.site.photos import has_personal_exif, jpeg_with_exif

pytestmark = pytest.mark.django_db

FIELD_PHOTO = "train/AMERICAN GOLDFINCH/American_Goldfinch_0001_32306.jpg"
UPSCALE = 5  # the original is 5 x the field photo: larger than the stored copy's STORED_MAX_SIDE


@pytest.fixture(params=["local files", "S3"])
def storage(request) -> str:
    """Each test that asks runs on local media files and on the S3 endpoint."""
    request.getfixturevalue("local_photos" if request.param == "local files" else "s3_bucket")
    return request.param


@pytest.fixture
def sharing(user):
    set_training_consent(user=user, allowed=True)
    return user


@pytest.fixture
def goldfinch() -> Species:
    return Species.objects.create(
        name="AMERICAN GOLDFINCH", scientific_name="Spinus tristis", slug="american-goldfinch"
    )


@pytest.fixture
def field_box(shared_data: Path) -> tuple[Path, tuple[int, int, int, int]]:
    """A real field photo and its true bird box."""
    with open(shared_data / "field" / "boxes.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["filepaths"] == FIELD_PHOTO)
    box = tuple(int(row[k]) for k in ("x", "y", "width", "height"))
    return shared_data / "field" / FIELD_PHOTO, box


@pytest.fixture
def boxed_sighting(field_box, goldfinch, tmp_path):
    """A sighting of a large phone photo (5 x the field photo) identified on the bird's box, in
    pixels of that original, as `identify_photo` stores it; the stored copy is smaller."""
    path, box = field_box

    def make(*, owner) -> Sighting:
        photo = Image.open(path).convert("RGB")
        large = tmp_path / "large.jpg"
        photo.resize((photo.width * UPSCALE, photo.height * UPSCALE), Image.LANCZOS).save(large)
        prepared = prepare_photo(data=jpeg_with_exif(large))  # with a phone's date and GPS
        x, y, w, h = (value * UPSCALE for value in box)
        pending = PendingPhoto(
            owner=owner,
            suggestions=[{"species": goldfinch.name, "probability": 0.9}],
            verdict=Verdict.BIRD,
            model_version="test-version",
            box_x=x,
            box_y=y,
            box_width=w,
            box_height=h,
            box_source="finder",
            photo_width=prepared.original_size[0],
            photo_height=prepared.original_size[1],
        )
        save_with_file(instance=pending, field_name="photo", content=prepared.content)
        return save_pending_photo(
            pending=pending,
            owner=owner,
            species=goldfinch,
            observed_at=timezone.now() - timedelta(hours=1),
        )

    return make


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """Where the exports go (beside the test's media folder, which is not theirs to check)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def export(exports: Path, **options):
    return export_training_data(out_dir=exports / "export", **options)


def test_only_shared_sightings_whose_species_the_person_gave_are_exported(
    storage, sharing, other_user, make_sighting, exports
):
    kept = [
        make_sighting(owner=sharing, species_index=0),
        make_sighting(owner=sharing, species_index=0),
        make_sighting(owner=sharing, species_index=1),
    ]
    make_sighting(owner=sharing, species_index=None)  # "I don't know"
    make_sighting(owner=other_user, species_index=0)  # bob never agreed
    report = export(exports)

    assert (report.photos, report.species) == (3, 2)
    assert report.skipped == {"no consent": 1, "species not chosen or confirmed": 1}
    dataset = read_dataset(report.out_dir)
    assert dataset.species == ["ABBOTTS BABBLER", "BALD EAGLE"]
    assert dataset.counts("train") == {"ABBOTTS BABBLER": 2, "BALD EAGLE": 1}
    assert dataset.scientific_names["BALD EAGLE"] == "Haliaeetus leucocephalus"
    assert sorted(s.path.name for s in dataset.samples("train")) == sorted(
        f"sighting-{s.pk}.jpg" for s in kept
    )
    # no box: the stored EXIF-free copy as it is; no person's name anywhere
    eagle = dataset.samples("train")[-1]
    assert eagle.path.read_bytes() == read_file(kept[2].photo)
    assert not has_personal_exif(eagle.path.read_bytes())
    listing = "\n".join(str(p) for p in report.out_dir.rglob("*"))
    listing += (report.out_dir / "birds.csv").read_text()
    assert "alice" not in listing and "bob" not in listing
    assert [p.name for p in exports.iterdir()] == ["export"]  # no temporary folder left


def test_turning_the_consent_off_leaves_the_photos_out_of_the_next_export(
    sharing, make_sighting, exports
):
    make_sighting(owner=sharing, species_index=0)
    assert export(exports).photos == 1
    set_training_consent(user=sharing, allowed=False)
    report = export_training_data(out_dir=exports / "next")
    assert (report.photos, report.species, report.skipped) == (0, 0, {"no consent": 1})


def test_a_photo_is_cut_to_its_box_scaled_to_the_smaller_stored_copy(
    storage, sharing, boxed_sighting, field_box, exports
):
    sighting = boxed_sighting(owner=sharing)
    stored = Image.open(io.BytesIO(read_file(sighting.photo)))
    assert max(stored.size) == STORED_MAX_SIDE < sighting.photo_width  # a smaller copy
    report = export(exports)

    [sample] = read_dataset(report.out_dir).samples("train")
    assert sample.species == "AMERICAN GOLDFINCH"
    cut = Image.open(sample.path)
    scale = stored.width / sighting.photo_width
    assert abs(cut.width - sighting.box_width * scale) <= 1
    assert abs(cut.height - sighting.box_height * scale) <= 1
    assert not has_personal_exif(sample.path.read_bytes())
    # and it is the bird: the field photo's true box, compared as small grey thumbnails
    path, (x, y, w, h) = field_box
    truth = Image.open(path).convert("L").crop((x, y, x + w, y + h)).resize((24, 24))
    ours = cut.convert("L").resize((24, 24))
    assert np.abs(np.asarray(truth, float) - np.asarray(ours, float)).mean() < 4


def test_species_short_of_the_minimum_are_left_out_even_when_a_photo_goes_missing(
    storage, sharing, make_sighting, exports
):
    babblers = [make_sighting(owner=sharing, species_index=0) for _ in range(3)]
    make_sighting(owner=sharing, species_index=1)
    report = export(exports, min_per_species=2)
    assert read_dataset(report.out_dir).counts("train") == {"ABBOTTS BABBLER": 3}
    assert report.skipped == {"fewer than 2 photos of the species": 1}

    # two babblers lose their photo: one is left, fewer than the minimum, and none is written
    for sighting in babblers[:2]:
        sighting.photo.storage.delete(sighting.photo.name)
    report = export_training_data(out_dir=exports / "again", min_per_species=2)
    assert (report.photos, report.species) == (0, 0)
    assert report.skipped == {
        "photo missing from storage": 2,
        "fewer than 2 photos of the species": 2,
    }
    assert list((report.out_dir / "train").iterdir()) == []


def test_a_stored_file_that_is_no_longer_a_photo_is_skipped(
    local_photos, sharing, make_sighting, boxed_sighting, exports
):
    whole, boxed = make_sighting(owner=sharing, species_index=0), boxed_sighting(owner=sharing)
    Path(whole.photo.path).write_bytes(b"not a photo any more")
    data = Path(boxed.photo.path).read_bytes()
    Path(boxed.photo.path).write_bytes(data[: len(data) // 2])  # truncated
    report = export(exports)
    assert (report.photos, report.skipped) == (0, {"stored photo unreadable": 2})


def test_since_keeps_sightings_recorded_on_or_after_that_day(
    sharing, make_sighting, exports, settings
):
    settings.TIME_ZONE = "Europe/Berlin"
    early, late, older = (make_sighting(owner=sharing, species_index=0) for _ in range(3))
    berlin = timezone.get_current_timezone()
    for sighting, moment in [
        (early, datetime(2026, 5, 4, 0, 30, tzinfo=berlin)),
        (late, datetime(2026, 5, 9, 12, 0, tzinfo=berlin)),
        (older, datetime(2026, 5, 3, 23, 30, tzinfo=berlin)),
    ]:
        Sighting.objects.filter(pk=sighting.pk).update(created_at=moment)
    report = export(exports, since=date(2026, 5, 4))
    names = {s.path.name for s in read_dataset(report.out_dir).samples("train")}
    assert names == {f"sighting-{early.pk}.jpg", f"sighting-{late.pk}.jpg"}
    assert report.skipped == {"before --since": 1}


def test_the_command_writes_and_summarises(sharing, make_sighting, exports, capsys):
    make_sighting(owner=sharing, species_index=0)
    make_sighting(owner=sharing, species_index=None)
    call_command("export_training_data", "--out", str(exports / "out"), "--since", "2020-01-01")
    summary = capsys.readouterr().out
    assert "Wrote 1 photo of 1 species" in summary
    assert "Skipped 1 sighting: species not chosen or confirmed." in summary
    assert read_dataset(exports / "out").species == ["ABBOTTS BABBLER"]


def test_the_command_refuses_a_folder_in_use_and_bad_options(sharing, make_sighting, exports):
    make_sighting(owner=sharing, species_index=0)
    used = exports / "used"
    used.mkdir()
    (used / "notes.txt").write_text("keep me")
    with pytest.raises(CommandError, match="exists and is not an empty folder"):
        call_command("export_training_data", out=str(used))
    assert [p.name for p in used.iterdir()] == ["notes.txt"]
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("export_training_data", "--out", str(exports / "a"), "--since", "4 May")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("export_training_data", out=str(exports / "b"), min_per_species=0)
    assert sorted(p.name for p in exports.iterdir()) == ["used"]
    # an empty folder is fine
    (exports / "empty").mkdir()
    call_command("export_training_data", out=str(exports / "empty"))
    assert read_dataset(exports / "empty").counts("train") == {"ABBOTTS BABBLER": 1}


def test_unreachable_storage_fails_clearly_and_leaves_nothing(
    s3_bucket, sharing, make_sighting, exports, settings
):
    make_sighting(owner=sharing, species_index=0)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket_name=s3_bucket,
            endpoint_url="http://127.0.0.1:9",  # nothing listens there
            region_name="us-east-1",
            access_key=S3_CREDENTIALS["aws_access_key_id"],
            secret_key=S3_CREDENTIALS["aws_secret_access_key"],
        ),
    }
    with pytest.raises(CommandError, match="storage is unavailable"):
        call_command("export_training_data", out=str(exports / "out"))
    assert list(exports.iterdir()) == []
