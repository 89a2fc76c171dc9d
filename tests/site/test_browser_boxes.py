"""Pointing at the bird in real headless Chromium (slow): a real field photo is uploaded, the
finder's box is shown, the person drags and resizes the crop box with the mouse and nudges it with
the keyboard, "Identify this part" re-identifies the stored photo, the sighting keeps the box and
its page draws it; screenshots at 1280 and 375 px, axe-core on the result pages."""

from __future__ import annotations

import csv

import pytest

from classifier.active_model import get_predictor
from classifier.models import PendingPhoto, Sighting, Species
from tests.conftest import SHARED_DATA
from tests.site.test_browser import (  # noqa: F401  (fixtures and helpers of the browser tests)
    DESKTOP,
    PHONE,
    browser,
    check_page,
    screenshots,
    sign_up,
    upload,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FIELD = SHARED_DATA / "field"
# A goldfinch on a branch: the finder crops around it; the annotated box is tighter and lower.
PHOTO = "valid/AMERICAN GOLDFINCH/American_Goldfinch_0115_32362.jpg"


def annotated_box(name: str) -> tuple[int, int, int, int]:
    with (FIELD / "boxes.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["filepaths"] == name:
                return tuple(int(row[k]) for k in ("x", "y", "width", "height"))
    raise AssertionError(f"no box for {name}")


def box_attribute(page, selector: str, name: str) -> tuple[int, ...]:
    return tuple(int(v) for v in page.get_attribute(selector, name).split(","))


def chosen_box(page) -> tuple[int, ...]:
    return tuple(int(v) for v in page.input_value("[data-box-input]").split(","))


def rect_of(page, scope: str) -> tuple[int, ...]:
    rect = page.locator(f"{scope} .box-rect")
    return tuple(int(rect.get_attribute(k)) for k in ("x", "y", "width", "height"))


def wait_for_cropper(page) -> None:
    """Until Cropper.js is ready (it announced the box) and laid out over the whole frame."""
    page.wait_for_selector(".cropper-crop-box")
    page.wait_for_function(
        """() => {
          const status = document.querySelector('[data-box-status]');
          const frame = document.querySelector('[data-photo-box]');
          const container = document.querySelector('.cropper-container');
          return status.textContent.length > 0 && container
            && Math.abs(container.offsetWidth - frame.clientWidth) <= 1;
        }"""
    )


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=12)
    page.mouse.up()


def centre(box: dict) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def close(got: tuple[int, ...], want: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(got, want, strict=True))


@pytest.fixture
def model_species(active_model) -> None:
    for label in get_predictor().labels:
        Species.objects.create(
            name=label["name"], scientific_name=label["scientific_name"], slug=f"s-{label['index']}"
        )


def test_point_at_the_bird_identify_the_part_and_keep_the_box(
    browser,  # noqa: F811 (the imported fixture)
    live_server,
    model_species,
    screenshots,  # noqa: F811
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_server.url}/accounts/signup/")
    sign_up(page, live_server.url, "dana")
    page.wait_for_url(f"{live_server.url}/")

    upload(page, FIELD / PHOTO)
    wait_for_cropper(page)

    # The finder's box: drawn over the photo (SVG) and where the crop box starts.
    figure = "[data-box-picker]"
    assert page.get_attribute(figure, "data-box-source") == "finder"
    assert (
        page.get_attribute(figure, "data-photo-width"),
        page.get_attribute(figure, "data-photo-height"),
    ) == ("500", "357")
    found = box_attribute(page, figure, "data-box")
    assert rect_of(page, figure) == found
    assert close(chosen_box(page), found, 2)
    assert "where the bird was found" in page.locator("[data-box-source-text]").inner_text()
    assert page.locator("[data-box-submit]").is_visible()
    before = page.locator(".suggestions").inner_text()
    check_page(page, screenshots, "box-finder")
    # check_page resized the window twice: start again from a crop box laid out at 1280 px.
    page.reload()
    wait_for_cropper(page)

    # Mouse: move the crop box onto the annotated bird, then drag its corner to resize it.
    target = annotated_box(PHOTO)
    canvas = page.locator(".cropper-canvas").bounding_box()
    scale = canvas["width"] / 500
    crop = page.locator(".cropper-crop-box").bounding_box()
    face = centre(page.locator(".cropper-face").bounding_box())
    offset = (
        canvas["x"] + target[0] * scale - crop["x"],
        canvas["y"] + target[1] * scale - crop["y"],
    )
    drag(page, face, (face[0] + offset[0], face[1] + offset[1]))
    corner = centre(page.locator(".cropper-point.point-se").bounding_box())
    far = (
        canvas["x"] + (target[0] + target[2]) * scale,
        canvas["y"] + (target[1] + target[3]) * scale,
    )
    drag(page, corner, far)
    tolerance = round(3 / scale) + 1
    assert close(chosen_box(page), target, tolerance), (chosen_box(page), target)

    # Keyboard: arrow keys move it, Shift + arrow keys resize it (2% of the width: 10 px).
    page.focus("[data-photo-box]")
    x, y, width, height = chosen_box(page)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    moved = chosen_box(page)
    assert close(moved, (x + 10, y, width, height + 10), 1), (moved, (x, y, width, height))
    assert "pixels" in page.locator("[data-box-status]").inner_text()

    # Identify this part: the stored photo again, on that box.
    with page.expect_navigation():
        page.click("text=Identify this part")
    wait_for_cropper(page)
    assert page.get_attribute(figure, "data-box-source") == "person"
    used = box_attribute(page, figure, "data-box")
    side = max(moved[2], moved[3])
    assert used[2] == used[3] == side  # the square around the person's box
    assert used[0] <= moved[0] and used[0] + side >= moved[0] + moved[2]
    assert used[1] <= moved[1] and used[1] + side >= moved[1] + moved[3]
    assert rect_of(page, figure) == used
    assert "the part you chose" in page.locator("[data-box-source-text]").inner_text()
    after = page.locator(".suggestions").inner_text()
    assert after != before, "the suggestions did not change"
    pending = PendingPhoto.objects.get()
    assert pending.box == used and pending.box_source == "person"
    check_page(page, screenshots, "box-person")

    page.click("text=Save sighting")
    page.wait_for_url("**/sightings/*/")
    sighting = Sighting.objects.get()
    assert sighting.box == used and sighting.box_source == "person"
    assert page.get_attribute(".box-overlay", "viewBox") == "0 0 500 357"
    assert rect_of(page, ".result-photo") == used
    assert "the part you chose" in page.locator("[data-box-source-text]").inner_text()
    check_page(page, screenshots, "box-sighting")


def test_a_phone_can_draw_the_box_by_touch(
    browser,  # noqa: F811 (the imported fixture)
    live_server,
    model_species,
    screenshots,  # noqa: F811
) -> None:
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    upload(page, FIELD / PHOTO)
    page.wait_for_selector(".cropper-crop-box")
    face = page.locator(".cropper-face").bounding_box()
    start = chosen_box(page)
    # A touch drag on the crop box moves it (Cropper.js listens to pointer events).
    cx, cy = centre(face)
    page.evaluate(
        """([x, y, dx]) => {
          const face = document.querySelector('.cropper-face');
          const fire = (type, px) => face.dispatchEvent(new PointerEvent(type, {
            bubbles: true, cancelable: true, pointerType: 'touch', isPrimary: true,
            pointerId: 7, clientX: px, clientY: y, button: 0, buttons: 1}));
          fire('pointerdown', x);
          for (let i = 1; i <= 10; i++) face.dispatchEvent(new PointerEvent('pointermove', {
            bubbles: true, pointerType: 'touch', isPrimary: true, pointerId: 7,
            clientX: x - dx * i / 10, clientY: y, buttons: 1}));
          face.dispatchEvent(new PointerEvent('pointerup', {
            bubbles: true, pointerType: 'touch', isPrimary: true, pointerId: 7,
            clientX: x - dx, clientY: y}));
        }""",
        [cx, cy, 40],
    )
    moved = chosen_box(page)
    assert moved[0] < start[0] and moved[2:] == start[2:], (start, moved)
    page.screenshot(path=str(screenshots / "box-touch-375.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    with page.expect_navigation():
        page.tap("text=Identify this part")
    assert page.get_attribute("[data-box-picker]", "data-box-source") == "person"
    context.close()
