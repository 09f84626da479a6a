// The emergency banner on every page: polls /oncall/alerts.json, shows unacknowledged
// emergencies, beeps, and uses the Notification API when the browser allows it.
(function () {
  "use strict";
  var t = window.ivrWords;  // the page's words, in the reader's language (words.js)
  var banner = document.getElementById("oncall-banner");
  if (!banner) { return; }
  var EVERY_MS = 3000;   // a new emergency shows within 5 s
  var seen = {};
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var audio = null;

  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      audio = audio || new Ctx();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "square"; osc.frequency.value = 880; gain.gain.value = 0.15;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.6);
      banner.dataset.sound = audio.state;   // "running" once the browser lets the page make sound
    } catch (e) { banner.dataset.sound = "blocked"; }
  }

  function notify(ids) {
    if (!("Notification" in window) || Notification.permission !== "granted") { return; }
    new Notification(t("Emergency on the hotline"), { body: t("Case {ids}: nobody has taken it yet.", { ids: ids.join(", ") }), tag: "ivr-emergency" });
  }

  function age(s) {
    if (s < 60) { return t("{n} s", { n: s }); }
    if (s < 3600) { return t("{n} min", { n: Math.floor(s / 60) }); }
    return t("{n} h", { n: Math.floor(s / 3600) });
  }

  function render(data) {
    if (!data.count) { banner.hidden = true; banner.textContent = ""; return; }
    banner.textContent = "";
    var text = document.createElement("p");
    text.textContent = (data.count === 1
      ? t("An emergency call has not been taken (oldest {age} ago).", { age: age(data.oldest_age_s) })
      : t("{n} emergency calls have not been taken (oldest {age} ago).", { n: data.count, age: age(data.oldest_age_s) })) + " ";
    banner.appendChild(text);
    data.cases.forEach(function (id) {
      var a = document.createElement("a");
      a.href = "/cases/" + id; a.textContent = t("Open case {id}", { id: id });
      text.appendChild(a); text.appendChild(document.createTextNode(" "));
    });
    if ("Notification" in window && Notification.permission === "default") {
      var ask = document.createElement("button");
      ask.type = "button"; ask.textContent = t("Also alert me outside this tab");
      ask.addEventListener("click", function () { Notification.requestPermission(); });
      banner.appendChild(ask);
    }
    banner.hidden = false;
    var fresh = data.cases.filter(function (id) { return !seen[id]; });
    fresh.forEach(function (id) { seen[id] = true; });
    if (fresh.length) { beep(); notify(fresh); }
  }

  function poll() {
    fetch("/oncall/alerts.json", { headers: { "Accept": "application/json", "X-Background-Poll": "1", "X-CSRF-Token": csrf },
                                   credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { render(data); } })
      .catch(function () { /* offline for a moment: the next poll tries again */ })
      .then(function () { window.setTimeout(poll, EVERY_MS); });
  }
  poll();
})();
