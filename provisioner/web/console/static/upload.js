// Release upload with progress, resumable (docs/media.md's protocol through the
// console's /ui/releases/uploads routes). Without this script the form posts the
// whole file at once. The upload's id is kept in localStorage: sending the same
// file again asks the server how much it has and sends only the rest.
(function () {
  "use strict";
  var form = document.getElementById("release-upload");
  if (!form || !window.fetch || !window.Blob) return;
  var CHUNK = 4 * 1024 * 1024;
  var token = form.querySelector('input[name="csrf_token"]').value;
  var bar = document.getElementById("upload-bar");
  var status = document.getElementById("upload-status");
  var box = document.getElementById("upload-progress");

  function show(done, size, text) {
    box.hidden = false;
    bar.max = size || 1;
    bar.value = done;
    status.textContent = text || (Math.floor((100 * done) / (size || 1)) + " % (" + done + " of " + size + " bytes)");
  }

  async function answer(r) {
    var body = {};
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) throw new Error(body.error || ("the server answered " + r.status));
    return body;
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

  async function upload(file, name, version) {
    var key = "provisioner-upload:" + [name, version, file.name, file.size, file.lastModified].join(":");
    var url = localStorage.getItem(key), offset = null;
    if (url) offset = await offsetOf(url, file.size);
    if (offset === null) {
      var r = await fetch(form.dataset.start, { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
        body: JSON.stringify({ name: name, version: version, size: file.size }) });
      var started = await answer(r);
      url = form.dataset.start + "/" + started.id;
      offset = started.offset;
      localStorage.setItem(key, url);
    }
    show(offset, file.size);
    var last = null;
    while (offset < file.size || last === null) {
      var end = Math.min(offset + CHUNK, file.size);
      var range = file.size === 0 ? "bytes */0" : "bytes " + offset + "-" + (end - 1) + "/" + file.size;
      last = await answer(await put(url, range, file.slice(offset, end)));
      offset = last.complete ? file.size : last.offset;
      show(offset, file.size);
      if (last.complete) break;
    }
    localStorage.removeItem(key);
    return last;
  }

  form.addEventListener("submit", function (ev) {
    var file = form.querySelector('input[type="file"]').files[0];
    if (!file) return;
    ev.preventDefault();
    var name = form.elements.name.value.trim(), version = form.elements.version.value.trim();
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    upload(file, name, version).then(function () {
      show(file.size, file.size, "Release " + name + ":" + version + " added.");
      window.location.reload();
    }, function (err) {
      show(Number(bar.value), Number(bar.max), "Upload stopped: " + err.message + " (send the same file again to resume)");
      button.disabled = false;
    });
  });
})();
