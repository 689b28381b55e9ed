// A node's page follows its install by itself (without this script: reload it).
// While the node installs it polls the rack's states (every 3 s) and reloads the
// page when the node's state changes, so the phase bar and timeline catch up.
(function () {
  "use strict";
  var chip = document.querySelector("h1 [data-state][data-poll]");
  if (!chip || !window.fetch || chip.textContent.trim() !== "installing") { return; }
  var mac = chip.getAttribute("data-mac");
  function poll() {
    fetch(chip.getAttribute("data-poll"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        if (data.states[mac] && data.states[mac] !== "installing") { window.location.reload(); }
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 3000);
})();
