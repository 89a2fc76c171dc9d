"""Pointing at the bird through the API, with the real small model and real photos: a box picks
one of two birds, a box on an EXIF-rotated JPEG is in upright pixels, every bad box is a clear
400 that stores nothing, and the schema documents the box."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from classifier.models import BoxSource, PendingPhoto, Sighting
from tests.api.photos import encode

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
PREDICT = "/api/v1/predict/"
SIGHTINGS = "/api/v1/sightings/"
LEFT, RIGHT = "AMERICAN FLAMINGO", "EMPEROR PENGUIN"


def upload(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


@pytest.fixture(scope="module")
def pair(held_out_photos: list[tuple[Path, str]]) -> Image.Image:
    """Two real held-out photos side by side: a flamingo on the left, a penguin on the right
    (each 224 x 224). On the whole frame the model answers the penguin."""
    by_species = {name: path for path, name in held_out_photos}
    image = Image.new("RGB", (448, 224))
    image.paste(Image.open(by_species[LEFT]).convert("RGB"), (0, 0))
    image.paste(Image.open(by_species[RIGHT]).convert("RGB"), (224, 0))
    return image


def scaled(image: Image.Image, factor: int) -> Image.Image:
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS)


def predict(api, data: bytes, box: str | None = None, name: str = "pair.jpg") -> dict:
    fields = {"image": upload(name, data)}
    if box is not None:
        fields["box"] = box
    response = api.post(PREDICT, fields)
    assert response.status_code == 200, response.json()
    return response.json()


def top(body: dict) -> str:
    return body["predictions"][0]["species"]["name"]


def stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def fast_throttle(settings) -> None:
    rates = {"predict_anon": "1000/min", "predict_user": "1000/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def test_a_box_on_each_bird_names_each_species(api, alice, active_model, pair, fast_throttle):
    # 2240 x 1120: larger than the stored copy (2048 px), so the site scales boxes both ways.
    photo = scaled(pair, 5)
    data = encode(photo, "JPEG", quality=92)

    whole = predict(api, data)
    assert top(whole) == RIGHT and whole["box_source"] in {"full", "finder"}
    assert (whole["photo_width"], whole["photo_height"]) == (2240, 1120)

    left = predict(api, data, box="0,0,1120,1120")
    right = predict(api, data, box="1120,0,1120,1120")
    assert top(left) == LEFT and top(right) == RIGHT
    assert left["box"] == [0, 0, 1120, 1120] and left["box_source"] == "person"
    assert right["box"] == [1120, 0, 1120, 1120] and right["box_source"] == "person"

    # A box smaller than the bird and not square: the classifier looks at the square around it.
    inner = predict(api, data, box="250,300,600,400")
    assert top(inner) == LEFT and inner["box"] == [250, 200, 600, 600]

    # Create keeps the box in the original's pixels although the stored photo is smaller.
    response = alice.post(SIGHTINGS, {"photo": upload("pair.jpg", data), "box": "0,0,1120,1120"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["box"] == [0, 0, 1120, 1120] and body["box_source"] == "person"
    assert (body["photo_width"], body["photo_height"]) == (2240, 1120)
    assert body["suggestions"][0]["species"]["name"] == LEFT
    sighting = Sighting.objects.get(pk=body["id"])
    assert sighting.box == (0, 0, 1120, 1120) and sighting.box_source == BoxSource.PERSON
    assert Image.open(sighting.photo).size == (2048, 1024)

    other = alice.post(SIGHTINGS, {"photo": upload("pair.jpg", data), "box": "1120,0,1120,1120"})
    assert other.json()["suggestions"][0]["species"]["name"] == RIGHT
    # Without a box the answer says which region was used.
    plain = alice.post(SIGHTINGS, {"photo": upload("pair.jpg", data)}).json()
    assert plain["box_source"] in {"full", "finder"} and len(plain["box"]) == 4


def test_a_box_on_an_exif_rotated_jpeg_is_in_upright_pixels(api, alice, active_model, pair):
    upright = scaled(pair, 2)  # 896 x 448 upright
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: a viewer rotates it 90 degrees clockwise
    rotated = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif, quality=95)
    assert Image.open(io.BytesIO(rotated)).size == (448, 896)  # the stored pixels stand upright
    original = encode(upright, "JPEG", quality=95)

    for box, species in (("0,0,448,448", LEFT), ("520,40,330,330", RIGHT), ("60,90,260,200", LEFT)):
        turned, plain = predict(api, rotated, box, "phone.jpg"), predict(api, original, box)
        assert top(turned) == top(plain) == species, box
        assert turned["box"] == plain["box"], box
        assert turned["box_source"] == plain["box_source"] == "person"
        assert (turned["photo_width"], turned["photo_height"]) == (896, 448)
        mine = {p["species"]["name"]: p["probability"] for p in turned["predictions"]}
        theirs = {p["species"]["name"]: p["probability"] for p in plain["predictions"]}
        assert mine[species] == pytest.approx(theirs[species], abs=0.05)

    response = alice.post(SIGHTINGS, {"photo": upload("phone.jpg", rotated), "box": "0,0,448,448"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["box"] == [0, 0, 448, 448] and (body["photo_width"], body["photo_height"]) == (
        896,
        448,
    )
    assert body["suggestions"][0]["species"]["name"] == LEFT
    assert Image.open(Sighting.objects.get().photo).size == (896, 448)  # stored upright


# The photo is 448 x 224 upright.
BAD_BOXES = {
    "outside_right": ("300,0,200,100", "outside the photo"),
    "outside_bottom": ("0,200,100,100", "outside the photo"),
    "negative_x": ("-1,0,100,100", "outside the photo"),
    "far_away": ("5000,5000,100,100", "outside the photo"),
    "zero_width": ("0,0,0,100", "positive"),
    "negative_height": ("0,0,100,-50", "positive"),
    "too_small": ("10,10,15,100", "at least 16 pixels"),
    "too_small_both": ("10,10,8,8", "at least 16 pixels"),
    "letters": ("a,b,c,d", "four whole numbers"),
    "fractions": ("10.5,0,100,100", "four whole numbers"),
    "three_numbers": ("1,2,300", "four whole numbers"),
    "five_numbers": ("1,2,30,30,5", "four whole numbers"),
    "json_list": ("[0, 0, 100, 100]", "four whole numbers"),
    "spaces_only_separators": ("0 0 100 100", "four whole numbers"),
}


@pytest.mark.parametrize("case", sorted(BAD_BOXES))
def test_a_bad_box_is_a_clear_400_and_stores_nothing(api, alice, active_model, pair, case):
    box, words = BAD_BOXES[case]
    data = encode(pair, "JPEG", quality=92)
    before = (Sighting.objects.count(), PendingPhoto.objects.count(), stored_files())

    for client, url, field in ((api, PREDICT, "image"), (alice, SIGHTINGS, "photo")):
        response = client.post(url, {field: upload("pair.jpg", data), "box": box})
        assert response.status_code == 400, (url, response.json())
        body = response.json()
        assert body["code"] == "invalid_box", body
        assert words in body["detail"], body["detail"]
        if words == "outside the photo":
            assert "448 x 224" in body["detail"]

    assert (Sighting.objects.count(), PendingPhoto.objects.count(), stored_files()) == before


def test_the_schema_documents_the_box(api):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    for name in ("PredictRequest", "SightingCreate"):
        box = components[name]["properties"]["box"]
        assert "x,y,width,height" in box["description"], name
        assert "EXIF" in box["description"] and "ORIGINAL" in box["description"]
        assert "400" in box["description"] and box.get("readOnly") is not True
        (text,) = [v for v in box.get("oneOf", [box]) if "pattern" in v]  # or blank: no box
        assert text["type"] == "string" and text["example"] == "120,80,300,260"
    for name in ("Prediction", "Sighting"):
        properties = components[name]["properties"]
        assert properties["box"]["type"] == "array" and properties["box"]["minItems"] == 4
        assert "box_source" in properties and "photo_width" in properties, name
    assert sorted(components["BoxSourceEnum"]["enum"]) == ["finder", "full", "person"]
