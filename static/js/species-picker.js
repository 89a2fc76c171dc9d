// Sighting form: typing another species selects the "Another species" choice.
(function () {
  "use strict";
  var picker = document.querySelector("[data-species-picker]");
  if (!picker) return;
  var other = picker.querySelector("[data-other-choice]");
  var input = picker.querySelector("input[list]");
  if (!other || !input) return;
  input.addEventListener("input", function () {
    if (input.value.trim()) other.checked = true;
  });
})();
