// The prompts list's play buttons: each is a link to the prompt's audio (so it plays without JavaScript,
// in the browser's own player); here it plays in the page instead, one prompt at a time, and a second
// press stops it.
"use strict";
(function () {
  var audio = null, playing = null;

  function shows(link, on) {
    link.classList.toggle("playing", on);
    link.setAttribute("aria-pressed", on ? "true" : "false");
    var icon = link.querySelector("[aria-hidden]");
    if (icon) { icon.textContent = on ? "\u25A0" : "\u25B6"; }  // ■ while it plays, ▶ otherwise
  }

  function stopped() {
    if (playing) { shows(playing, false); }
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
    var mine = new Audio(link.getAttribute("href"));
    // Only this audio's own end resets the button: a pressed-over one's refused play() must not.
    var done = function () { if (audio === mine) { stopped(); } };
    audio = mine;
    mine.addEventListener("ended", done);
    mine.addEventListener("error", done);
    playing = link;
    shows(link, true);
    mine.play().catch(done);
  });
})();
