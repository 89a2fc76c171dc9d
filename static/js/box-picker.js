// Result page: a crop box (Cropper.js) the person drags or resizes over the bird, with the mouse,
// touch or the keyboard, then "Identify this part" posts it (the photo is not uploaded again).
// Boxes travel in pixels of the ORIGINAL upright photo (data-photo-width / data-photo-height);
// the image shown is the stored copy, whose natural pixels are converted by the ratio of widths.
(function () {
  "use strict";
  var figure = document.querySelector("[data-box-picker]");
  if (!figure || typeof window.Cropper !== "function") return;
  var frame = figure.querySelector("[data-photo-box]");
  var image = figure.querySelector("[data-box-image]");
  var form = figure.querySelector("[data-box-form]");
  if (!frame || !image || !form) return;
  var input = form.querySelector("[data-box-input]");
  var status = form.querySelector("[data-box-status]");
  var submit = form.querySelector("[data-box-submit]");
  var photoWidth = Number(figure.dataset.photoWidth);
  var photoHeight = Number(figure.dataset.photoHeight);
  var MIN_SIDE = 16; // classifier.models.MIN_BOX_SIDE
  var KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  var cropper = null;

  function parseBox(text) {
    var parts = (text || "").split(",").map(Number);
    if (parts.length !== 4 || parts.some(isNaN)) return null;
    return { x: parts[0], y: parts[1], width: parts[2], height: parts[3] };
  }

  function clamp(value, low, high) {
    return Math.min(Math.max(value, low), high);
  }

  // Natural pixels of the shown image per original pixel.
  function ratio() {
    return image.naturalWidth / photoWidth;
  }

  function toOriginal(data) {
    var r = ratio();
    var width = clamp(Math.round(data.width / r), MIN_SIDE, photoWidth);
    var height = clamp(Math.round(data.height / r), MIN_SIDE, photoHeight);
    return {
      x: clamp(Math.round(data.x / r), 0, photoWidth - width),
      y: clamp(Math.round(data.y / r), 0, photoHeight - height),
      width: width,
      height: height,
    };
  }

  function toNatural(box) {
    var r = ratio();
    return { x: box.x * r, y: box.y * r, width: box.width * r, height: box.height * r };
  }

  function remember() {
    var box = toOriginal(cropper.getData());
    input.value = [box.x, box.y, box.width, box.height].join(",");
    return box;
  }

  function announce() {
    var box = remember();
    status.textContent =
      "Box: " + box.width + " × " + box.height + " pixels, " + box.x + " from the left, " +
      box.y + " from the top of the " + photoWidth + " × " + photoHeight + " photo.";
  }

  // Arrow keys move the box, Shift + arrow keys resize it (right and down: larger), by 2% of
  // the photo's width (Alt: one pixel).
  function onKey(event) {
    var step = KEYS[event.key];
    if (!step || !cropper) return;
    event.preventDefault();
    var data = cropper.getData();
    var amount = event.altKey ? 1 : Math.max(1, Math.round(image.naturalWidth / 50));
    if (event.shiftKey) {
      data.width = Math.max(data.width + step[0] * amount, MIN_SIDE * ratio());
      data.height = Math.max(data.height + step[1] * amount, MIN_SIDE * ratio());
    } else {
      data.x += step[0] * amount;
      data.y += step[1] * amount;
    }
    cropper.setData(data);
    announce();
  }

  function start() {
    var initial = parseBox(figure.dataset.box);
    cropper = new window.Cropper(image, {
      viewMode: 1,
      dragMode: "crop",
      autoCropArea: 0.6,
      data: initial ? toNatural(initial) : null,
      movable: false,
      rotatable: false,
      scalable: false,
      zoomable: false,
      toggleDragModeOnDblclick: false,
      checkCrossOrigin: false,
      checkOrientation: false,
      background: false,
      ready: announce,
      cropend: announce,
    });
    frame.setAttribute("tabindex", "0");
    frame.setAttribute("role", "group");
    frame.setAttribute("aria-label", "Box over the bird in the photo");
    frame.setAttribute("aria-describedby", "box-help");
    frame.classList.add("photo-box-editing");
    frame.addEventListener("keydown", onKey);
    form.hidden = false;
  }

  form.addEventListener("submit", function () {
    if (cropper) remember();
    submit.disabled = true;
    submit.textContent = "Identifying…";
  });

  if (image.complete && image.naturalWidth) {
    start();
  } else {
    image.addEventListener("load", start, { once: true });
  }
})();
