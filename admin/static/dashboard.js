// The dashboard updates itself: every minute it fetches this same page (same filters) and swaps
// in the fresh figures, keeping open "Show the numbers" sections open. Nothing is fetched elsewhere.
(function () {
  "use strict";
  var box = document.getElementById("live-figures");
  if (!box || !window.fetch || !window.DOMParser) return;
  function refresh() {
    if (document.hidden) return;
    fetch(location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live-figures");
        if (!fresh) return;
        var open = {};
        box.querySelectorAll("section[id] details[open]").forEach(function (d) { open[d.closest("section").id] = true; });
        fresh.querySelectorAll("section[id]").forEach(function (s) {
          var d = s.querySelector("details");
          if (d && open[s.id]) d.open = true;
        });
        box.replaceChildren.apply(box, Array.prototype.slice.call(fresh.childNodes));
        box.dataset.updated = String(Date.now());
      })
      .catch(function () { /* keep the figures shown; the next minute tries again */ });
  }
  setInterval(refresh, Number(box.dataset.every || 60000));
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();
