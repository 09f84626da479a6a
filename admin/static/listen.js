// Listening and typing on the case page, for caseworkers who transcribe by hand.
// Each message gets: play/pause, back 3 s, forward 3 s, speed 0.5x-1.5x (pitch kept), a loop over a
// stretch, "insert time", and a waveform (peaks from the server) that seeks where it is clicked.
// While typing in that message's box: Esc play/pause, Alt+, back 3 s, Alt+. forward 3 s, Alt+T time.
// Drafts are kept in this browser (localStorage) as they are typed, and offered again after a closed
// tab or a crash; a saved version or signing out removes them.
"use strict";
(function () {
  var t = window.ivrWords;  // the page's words, in the reader's language (words.js)
  var STEP = 3, PREFIX = "ivr-draft:";

  function stamp(secs) {
    var m = Math.floor(secs / 60), s = Math.floor(secs % 60);
    return "[" + m + ":" + (s < 10 ? "0" : "") + s + "]";
  }

  function insertAt(area, text) {
    var a = area.selectionStart || 0, b = area.selectionEnd || 0;
    area.value = area.value.slice(0, a) + text + area.value.slice(b);
    area.selectionStart = area.selectionEnd = a + text.length;
    area.dispatchEvent(new Event("input"));
    area.focus();
  }

  function button(label, title) {
    var b = document.createElement("button");
    b.type = "button"; b.textContent = label; if (title) { b.title = title; }
    return b;
  }

  function drawWave(canvas, peaks, audio) {
    var ctx = canvas.getContext("2d");
    var w = canvas.width = canvas.clientWidth * (window.devicePixelRatio || 1);
    var h = canvas.height = canvas.clientHeight * (window.devicePixelRatio || 1);
    var length = isFinite(audio.duration) && audio.duration > 0 ? audio.duration : Number(canvas.dataset.duration) || 0;
    var done = length ? audio.currentTime / length : 0;
    ctx.clearRect(0, 0, w, h);
    var step = w / Math.max(peaks.length, 1);
    for (var i = 0; i < peaks.length; i++) {
      var v = Math.max(peaks[i] * h * 0.95, 1);
      ctx.fillStyle = (i / peaks.length) < done ? "#0b5cad" : "#8fa9c4";
      ctx.fillRect(i * step, (h - v) / 2, Math.max(step - 1, 1), v);
    }
  }

  function setUp(article) {
    var audio = article.querySelector("audio");
    if (!audio) { return; }
    var area = article.querySelector("form[data-kind=transcript] textarea");
    var bar = document.createElement("div");
    bar.className = "player row";
    var play = button(t("Play"), t("Play or pause (Esc while typing)"));
    var back = button("− 3 s", t("Back 3 seconds (Alt+,)"));
    var fwd = button("+ 3 s", t("Forward 3 seconds (Alt+.)"));
    var speedLabel = document.createElement("label");
    speedLabel.className = "inline";
    speedLabel.textContent = t("Speed") + " ";
    var speed = document.createElement("select");
    [0.5, 0.75, 1, 1.25, 1.5].forEach(function (r) {
      var o = document.createElement("option"); o.value = r; o.textContent = r + "×"; if (r === 1) { o.selected = true; }
      speed.appendChild(o);
    });
    speedLabel.appendChild(speed);
    var loopFrom = button(t("Loop from here")), loopOff = button(t("Stop loop"));
    loopOff.hidden = true;
    var mark = button(t("Insert time"), t("Insert the current time into the transcript (Alt+T)"));
    [play, back, fwd, speedLabel, loopFrom, loopOff, mark].forEach(function (el) { bar.appendChild(el); });
    var canvas = document.createElement("canvas");
    canvas.className = "wave"; canvas.setAttribute("role", "slider");
    canvas.setAttribute("aria-label", t("Position in the message: click to jump there"));
    canvas.tabIndex = 0;
    function position() {
      canvas.setAttribute("aria-valuemin", "0");
      canvas.setAttribute("aria-valuemax", String(Math.round(Number(canvas.dataset.duration) || 0)));
      canvas.setAttribute("aria-valuenow", String(Math.round(audio.currentTime)));
      canvas.setAttribute("aria-valuetext", stamp(audio.currentTime));
    }
    position();
    audio.insertAdjacentElement("afterend", canvas);
    canvas.insertAdjacentElement("afterend", bar);
    var help = document.createElement("p");
    help.className = "muted";
    help.textContent = t("While typing: Esc plays or pauses, Alt+, goes back 3 s, Alt+. forward 3 s, Alt+T inserts the time.");
    bar.insertAdjacentElement("afterend", help);

    var loop = null;  // [start, end] seconds
    function toggle() { if (audio.paused) { audio.play(); } else { audio.pause(); } }
    function jump(d) { audio.currentTime = Math.max(0, Math.min((audio.duration || 0), audio.currentTime + d)); }
    play.addEventListener("click", toggle);
    back.addEventListener("click", function () { jump(-STEP); });
    fwd.addEventListener("click", function () { jump(STEP); });
    speed.addEventListener("change", function () {
      audio.preservesPitch = true; audio.mozPreservesPitch = true; audio.webkitPreservesPitch = true;
      audio.playbackRate = Number(speed.value);
    });
    loopFrom.addEventListener("click", function () {
      if (!loop) {
        loop = [audio.currentTime, null]; loopFrom.textContent = t("Loop to here");
      } else if (loop[1] === null) {
        loop[1] = Math.max(audio.currentTime, loop[0] + 0.5); loopFrom.hidden = true; loopOff.hidden = false;
        audio.currentTime = loop[0]; audio.play();
      }
    });
    loopOff.addEventListener("click", function () {
      loop = null; loopFrom.textContent = t("Loop from here"); loopFrom.hidden = false; loopOff.hidden = true;
    });
    mark.addEventListener("click", function () { if (area) { insertAt(area, stamp(audio.currentTime) + " "); } });
    audio.addEventListener("play", function () { play.textContent = t("Pause"); });
    audio.addEventListener("pause", function () { play.textContent = t("Play"); });
    audio.addEventListener("timeupdate", function () {
      if (loop && loop[1] !== null && audio.currentTime >= loop[1]) { audio.currentTime = loop[0]; }
      if (peaks) { drawWave(canvas, peaks, audio); }
      position();
    });
    if (area) {
      area.addEventListener("keydown", function (e) {
        if (e.key === "Escape") { e.preventDefault(); toggle(); }
        else if (e.altKey && (e.key === "," || e.code === "Comma")) { e.preventDefault(); jump(-STEP); }
        else if (e.altKey && (e.key === "." || e.code === "Period")) { e.preventDefault(); jump(STEP); }
        else if (e.altKey && (e.key === "t" || e.code === "KeyT")) { e.preventDefault(); insertAt(area, stamp(audio.currentTime) + " "); }
      });
    }
    var peaks = null;
    fetch(article.dataset.peaks, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) { peaks = data.peaks; canvas.dataset.duration = data.duration; position(); drawWave(canvas, peaks, audio); })
      .catch(function () { canvas.hidden = true; });
    canvas.addEventListener("click", function (e) {
      var r = canvas.getBoundingClientRect();
      // A streamed file may not know its length yet (Infinity): the server measured it.
      var duration = isFinite(audio.duration) && audio.duration > 0 ? audio.duration : Number(canvas.dataset.duration) || 0;
      audio.currentTime = duration * Math.max(0, Math.min(1, (e.clientX - r.left) / r.width));
    });
    canvas.addEventListener("keydown", function (e) {
      if (e.key === "ArrowLeft") { e.preventDefault(); jump(-STEP); }
      if (e.key === "ArrowRight") { e.preventDefault(); jump(STEP); }
    });
    window.addEventListener("resize", function () { if (peaks) { drawWave(canvas, peaks, audio); } });
  }

  function drafts(form) {
    var area = form.querySelector("textarea");
    var base = form.querySelector("input[name=base_version]").value;
    var key = PREFIX + form.dataset.draft;
    var saved = null;
    try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
    if (saved && Number(saved.base) < Number(base)) {
      localStorage.removeItem(key); saved = null;  // a newer version was saved since: the draft is done
    }
    if (saved && saved.text !== area.value) {
      area.value = saved.text;
      var details = form.closest("details"); if (details) { details.open = true; }
      var note = document.createElement("p");
      note.className = "notice draft-restored"; note.setAttribute("role", "status");
      note.textContent = t("Your unsaved draft from {when} was put back. Save it, or clear the box to drop it.",
                           { when: new Date(saved.at).toLocaleString() });
      form.insertBefore(note, form.firstChild);
    }
    area.addEventListener("input", function () {
      try {
        if (area.value === area.defaultValue) { localStorage.removeItem(key); return; }
        localStorage.setItem(key, JSON.stringify({ text: area.value, base: base, at: Date.now() }));
      } catch (e) { /* storage full or off: the form still saves normally */ }
    });
  }

  document.querySelectorAll("article.recording").forEach(setUp);
  document.querySelectorAll("form[data-draft]").forEach(drafts);
  // A shared computer keeps no one's drafts after they sign out.
  document.querySelectorAll("form[action='/logout']").forEach(function (f) {
    f.addEventListener("submit", function () {
      Object.keys(localStorage).forEach(function (k) { if (k.indexOf(PREFIX) === 0) { localStorage.removeItem(k); } });
    });
  });
})();
