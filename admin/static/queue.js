// Keeps the case queue current without a reload: polls /cases/live every 5 s and swaps the rows.
"use strict";
(function () {
  // The filters fold away on a phone only: a laptop has the room to show them.
  var more = document.querySelector("details.more-filters");
  if (more && window.matchMedia("(min-width: 601px)").matches) { more.open = true; }
  var table = document.getElementById("queue");
  if (!table) { return; }
  var rows = document.getElementById("queue-rows");
  var banner = document.getElementById("emergency-banner");
  var count = document.getElementById("emergency-count");
  var note = document.getElementById("live-note");
  var seen = 0;
  rows.querySelectorAll("tr[data-id]").forEach(function (tr) { seen = Math.max(seen, +tr.dataset.id); });

  function refresh() {
    // X-Background-Poll: polling does not count as activity, so an unattended screen still signs out.
    fetch(table.dataset.live, { headers: { "Accept": "application/json", "X-Background-Poll": "1" },
                                credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); }  // signed out: the reload shows the sign-in page
        if (!r.ok) { throw new Error(r.status); }
        return r.json();
      })
      .then(function (data) {
        rows.innerHTML = data.html;
        count.textContent = data.emergencies;
        banner.hidden = data.emergencies === 0;
        if (data.newest > seen) { note.hidden = false; seen = data.newest; }
      })
      .catch(function () { /* the next poll tries again */ });
  }
  setInterval(refresh, 5000);
})();
