// Records the caseworker's message for the caller in the browser and uploads it.
"use strict";
(function () {
  var t = window.ivrWords;  // the page's words, in the reader's language (words.js)
  var box = document.querySelector(".recorder");
  if (!box || !window.MediaRecorder || !navigator.mediaDevices) { return; }
  box.hidden = false;
  var start = document.getElementById("rec-start");
  var stop = document.getElementById("rec-stop");
  var save = document.getElementById("rec-save");
  var preview = document.getElementById("rec-preview");
  var status = document.getElementById("rec-status");
  var token = document.querySelector('meta[name="csrf-token"]').content;
  var recorder = null, chunks = [], blob = null;

  // What went wrong, in words, from the response itself: our JSON answer, else the status.
  // (Only a 401 means the session ended; a 413 may come from a proxy as an HTML page.)
  function explain(r) {
    var type = r.headers.get("Content-Type") || "";
    if (type.indexOf("application/json") >= 0) {
      return r.json().catch(function () { return byStatus(r.status); });
    }
    return byStatus(r.status);
  }
  function byStatus(code) {
    var error;
    if (code === 401) { error = t("Your session has ended. Please sign in again, then record the message again."); }
    else if (code === 413) { error = t("The recording is too big to send. Please record a shorter message."); }
    else if (code === 403) { error = t("The server refused this. Reload the page and try again; if it happens again, your role may not allow it."); }
    else if (code >= 500) { error = t("The server had a problem (error {code}) and the message was not saved. Please try again in a few minutes.", { code: code }); }
    else { error = t("The message was not saved (error {code}). Please reload the page and try again.", { code: code }); }
    return { ok: false, error: error };
  }

  start.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = function (e) { if (e.data.size) { chunks.push(e.data); } };
      recorder.onstop = function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
        preview.src = URL.createObjectURL(blob);
        preview.hidden = false;
        save.disabled = false;
        status.textContent = t("Listen to it. If it is good, press Save.");
      };
      recorder.start();
      start.disabled = true; stop.disabled = false; save.disabled = true;
      status.textContent = t("Recording… press Stop when you have finished.");
    }).catch(function () {
      status.textContent = t("The microphone could not be used. You can upload a file instead.");
    });
  });
  stop.addEventListener("click", function () {
    if (recorder && recorder.state === "recording") { recorder.stop(); }
    start.disabled = false; stop.disabled = true;
  });
  save.addEventListener("click", function () {
    if (!blob) { return; }
    var form = new FormData();
    var ext = (blob.type.indexOf("ogg") >= 0) ? ".ogg" : ".webm";
    form.append("audio", blob, "message" + ext);
    save.disabled = true;
    status.textContent = t("Saving…");
    fetch(box.dataset.url, { method: "POST", body: form, credentials: "same-origin",
                             headers: { "X-CSRF-Token": token } })
      .then(explain)
      .then(function (data) {
        if (data.ok) { window.location = data.redirect; return; }
        status.textContent = data.error; save.disabled = false;
      })
      .catch(function () {
        status.textContent = t("The message could not be sent: the connection to the server failed. Check the network and try again.");
        save.disabled = false;
      });
  });
})();
