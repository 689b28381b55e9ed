// The rack overview refreshes its node states by itself (the page works without
// this script: reload it). It polls /ui/rack/states.json, quickly while a node is
// installing and slowly otherwise, and updates each node's colour and state text.
(function () {
  "use strict";
  var all = document.getElementById("rack-all");  // "choose all": only with a script
  if (all) {
    all.hidden = false;
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="mac"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }
  var view = document.getElementById("rack-grid") || document.getElementById("rack-table");
  if (!view || !window.fetch) { return; }
  var url = view.getAttribute("data-poll");
  var FAST = 2000, SLOW = 10000;
  var busy = view.getAttribute("data-busy") === "true";

  function setState(item, state) {
    var cell = item.classList.contains("cell") ? item : item.querySelector(".chip");
    var text = item.querySelector("[data-state]");
    if (!cell || !text || text.textContent === state) { return; }
    cell.className = cell.className.replace(/\bstate-[a-z-]+/g, "").trim() + " state-" + state;
    text.textContent = state;
    if (item.classList.contains("cell")) {
      var name = item.querySelector(".name");
      item.title = (name ? name.textContent : "") + ": " + state;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.redirected && r.url.indexOf("/ui/login") >= 0) {
          window.location.reload();  // the session ended: show the login page
        }
        if (!r.ok) { throw new Error(r.status); }
        return r.json();
      })
      .then(function (data) {
        busy = data.busy;
        view.querySelectorAll("[data-mac]").forEach(function (item) {
          var state = data.states[item.getAttribute("data-mac")];
          if (state) { setState(item, state); }
        });
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { window.setTimeout(poll, busy ? FAST : SLOW); });
  }
  window.setTimeout(poll, busy ? FAST : SLOW);
})();
