// Recording a prompt in the browser, on the prompts page: record with the microphone (MediaRecorder),
// hear it back, trim the silence at both ends, record again, and send it as a draft without leaving
// the page. The take is decoded here and sent as 16-bit PCM WAV, so the server converts it exactly as
// it converts an uploaded file (and refuses it for the same reasons: silence, clipping, too long).
"use strict";
(function () {
  var TRIM_BELOW = 0.02;  // samples quieter than this (of full scale) at either end count as silence
  var AIR = 0.1;          // seconds kept around the words so the first consonant is not cut

  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function trimmed(samples, rate, trim) {
    if (!trim) { return samples; }
    var first = 0, last = samples.length - 1;
    while (first < samples.length && Math.abs(samples[first]) < TRIM_BELOW) { first++; }
    while (last > first && Math.abs(samples[last]) < TRIM_BELOW) { last--; }
    if (first >= last) { return samples; }  // all quiet: send it anyway, the server says why it refuses
    var air = Math.floor(AIR * rate);
    return samples.subarray(Math.max(0, first - air), Math.min(samples.length, last + air));
  }

  function wav(samples, rate) {
    var buffer = new ArrayBuffer(44 + samples.length * 2), view = new DataView(buffer);
    function text(at, s) { for (var i = 0; i < s.length; i++) { view.setUint8(at + i, s.charCodeAt(i)); } }
    text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
    text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
    view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, samples.length * 2, true);
    for (var i = 0; i < samples.length; i++) {
      var s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buffer], { type: "audio/wav" });
  }

  function setUp(box) {
    var part = function (name) { return box.querySelector('[data-act="' + name + '"]'); };
    var record = part("record"), stop = part("stop"), submit = part("submit"), preview = part("preview");
    var status = part("status"), trim = part("trim");
    var recorder = null, chunks = [], take = null, stream = null;
    // The words come from the page (data-say-*), in the user's language.
    var words = box.dataset;

    function say(message) { status.textContent = message; }

    async function prepare(blob) {
      var context = new AudioContext();
      try {
        var decoded = await context.decodeAudioData(await blob.arrayBuffer());
        var samples = trimmed(decoded.getChannelData(0), decoded.sampleRate, trim.checked);
        take = wav(samples, decoded.sampleRate);
      } finally {
        context.close();
      }
      preview.src = URL.createObjectURL(take);
      preview.hidden = false;
      submit.disabled = false;
      say(words.sayListen);
    }

    record.addEventListener("click", async function () {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (err) {
        say(words.sayNoMicrophone + " " + err.message);
        return;
      }
      chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.addEventListener("dataavailable", function (e) { if (e.data.size) { chunks.push(e.data); } });
      recorder.addEventListener("stop", function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        prepare(new Blob(chunks, { type: recorder.mimeType })).catch(function (err) {
          say(words.sayUnreadable + " " + err.message);
        });
      });
      recorder.start();
      record.disabled = true; stop.disabled = false; submit.disabled = true;
      say(words.sayRecording);
    });

    stop.addEventListener("click", function () {
      if (recorder && recorder.state === "recording") { recorder.stop(); }
      stop.disabled = true; record.disabled = false;
      record.textContent = words.sayAgain;
    });

    submit.addEventListener("click", async function () {
      if (!take) { return; }
      submit.disabled = true;
      say(words.saySending);
      var form = new FormData();
      form.append("via", "web");
      form.append("file", take, box.dataset.key + ".wav");
      try {
        var response = await fetch("/prompts/" + box.dataset.lang + "/" + box.dataset.key, {
          method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRF-Token": token() }
        });
        var answer = await response.json();
        say(answer.ok ? words.sayKept : answer.error);
        submit.disabled = answer.ok;
      } catch (err) {
        say(words.sayNotSent + " " + err.message);
        submit.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.MediaRecorder || !navigator.mediaDevices) { return; }  // the upload form still works
    document.querySelectorAll(".recorder").forEach(function (box) { box.hidden = false; setUp(box); });
  });
})();
