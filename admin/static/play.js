// The prompts list's play buttons: each is a link to the prompt's audio (so it plays without JavaScript,
// in the browser's own player); here it plays in the page instead, one prompt at a time, and a second
// press stops it.
"use strict";
(function () {
  var audio = null, playing = null;

  function stopped() {
    if (playing) { playing.classList.remove("playing"); playing.setAttribute("aria-pressed", "false"); }
    playing = null;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-play]") : null;
    if (!link) { return; }
    event.preventDefault();
    var again = link === playing;
    if (audio) { audio.pause(); }
    stopped();
    if (again) { return; }
    audio = new Audio(link.getAttribute("href"));
    audio.addEventListener("ended", stopped);
    audio.addEventListener("error", stopped);
    playing = link;
    link.classList.add("playing");
    link.setAttribute("aria-pressed", "true");
    audio.play().catch(stopped);
  });
})();
