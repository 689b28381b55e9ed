// Uploads with progress, resumable: the forms of class "resumable-upload" speak
// docs/media.md's protocol through the console (POST data-start with the form's
// fields as JSON plus the size, then PUT data-put/ID with Content-Range). Without
// this script each form posts its file at once. The upload's URL is kept in
// localStorage: sending the same file again asks the server how much it has and
// sends only the rest.
(function () {
  "use strict";
  if (!window.fetch || !window.Blob) return;
  var CHUNK = 4 * 1024 * 1024;

  async function answer(r) {
    var body = {};
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) throw new Error(body.error || ("the server answered " + r.status));
    return body;
  }

  function setup(form) {
    var token = form.querySelector('input[name="csrf_token"]').value;
    var input = form.querySelector('input[type="file"]');
    var bar = form.querySelector("progress");
    var status = form.querySelector(".upload-status");
    var box = form.querySelector(".upload-progress");

    function show(done, size, text) {
      box.hidden = false;
      bar.max = size || 1;
      bar.value = done;
      status.textContent = text ||
        (Math.floor((100 * done) / (size || 1)) + " % (" + done + " of " + size + " bytes)");
    }

    function put(url, range, data) {
      return fetch(url, { method: "PUT", body: data, credentials: "same-origin",
        headers: { "Content-Range": range, "X-CSRF-Token": token,
                   "Content-Type": "application/octet-stream" } });
    }

    async function offsetOf(url, size) {
      var r = await put(url, "bytes */" + size, new Blob([]));
      if (r.status === 404) return null;
      return (await answer(r)).offset;
    }

    function fields() {
      var out = {};
      for (var el of form.elements) {
        if (el.name && el.type !== "file" && el.name !== "csrf_token" && el.value) out[el.name] = el.value.trim();
      }
      return out;
    }

    async function upload(file) {
      var data = fields();
      data.size = file.size;
      var key = "provisioner-upload:" + JSON.stringify([data, file.name, file.lastModified]);
      var url = localStorage.getItem(key), offset = null;
      if (url) offset = await offsetOf(url, file.size);
      if (offset === null) {
        var r = await fetch(form.dataset.start, { method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
          body: JSON.stringify(data) });
        var started = await answer(r);
        url = form.dataset.put + "/" + started.id;
        offset = started.offset;
        localStorage.setItem(key, url);
      }
      show(offset, file.size);
      for (;;) {
        var end = Math.min(offset + CHUNK, file.size);
        var range = end > offset ? "bytes " + offset + "-" + (end - 1) + "/" + file.size : "bytes */" + file.size;
        var last = await answer(await put(url, range, file.slice(offset, end)));
        offset = last.complete ? file.size : last.offset;
        show(offset, file.size);
        if (last.complete) break;
      }
      localStorage.removeItem(key);
    }

    form.addEventListener("submit", function (ev) {
      var file = input.files[0];
      if (!file) return;
      ev.preventDefault();
      var button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      upload(file).then(function () {
        show(file.size, file.size, form.dataset.done || "Uploaded.");
        window.location.reload();
      }, function (err) {
        show(Number(bar.value), Number(bar.max),
          "Upload stopped: " + err.message + " (send the same file again to resume)");
        button.disabled = false;
      });
    });
  }

  document.querySelectorAll("form.resumable-upload").forEach(setup);
})();
