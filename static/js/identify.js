// Identify page: drag and drop onto the drop zone, a preview of the chosen photo, a busy note.
(function () {
  "use strict";
  var form = document.querySelector("[data-upload-form]");
  if (!form) return;
  var zone = form.querySelector("[data-dropzone]");
  var inputs = form.querySelectorAll("[data-photo-input]");
  var preview = form.querySelector("[data-preview]");
  var zoneText = form.querySelector("[data-dropzone-text]");
  var selected = form.querySelector("[data-selected]");
  var busy = form.querySelector("[data-busy]");
  var submit = form.querySelector("[data-submit]");

  function chosenFile() {
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].files && inputs[i].files.length) return inputs[i].files[0];
    }
    return null;
  }

  function show(file) {
    selected.textContent = file ? "Selected: " + file.name : "";
    if (!file || !/^image\/(jpeg|png|webp|gif|bmp)$/.test(file.type)) {
      preview.hidden = true;
      zoneText.hidden = false;
      return;
    }
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    zoneText.hidden = true;
  }

  inputs.forEach(function (input) {
    input.addEventListener("change", function () {
      // Only one photo is sent: clear the other input.
      inputs.forEach(function (other) { if (other !== input) other.value = ""; });
      show(chosenFile());
    });
  });

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("dropzone-active");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dropzone-active"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    var transfer = new DataTransfer();
    transfer.items.add(files[0]);
    inputs[0].files = transfer.files;
    inputs.forEach(function (other, index) { if (index > 0) other.value = ""; });
    show(files[0]);
  });

  form.addEventListener("submit", function (event) {
    if (!chosenFile()) {
      event.preventDefault();
      selected.textContent = "Choose a photo first.";
      return;
    }
    busy.hidden = false;
    submit.disabled = true;
  });
})();
