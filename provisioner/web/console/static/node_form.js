// The node form's live preview (the page works without this script: its Preview
// button shows the same). On each change it posts the form to the preview
// endpoint (the CSRF token as a header) and shows what the box would be served,
// or the errors beside their fields.
(function () {
  "use strict";
  var form = document.getElementById("node-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var url = form.getAttribute("data-preview");
  var token = form.querySelector('input[name="csrf_token"]').value;
  var timer = null, sent = 0;

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value; }
  }

  function showErrors(errors) {
    form.querySelectorAll(".field .error, .live-error").forEach(function (el) { el.remove(); });
    form.querySelectorAll('[aria-invalid="true"]').forEach(function (el) {
      el.removeAttribute("aria-invalid");
      el.closest(".field").classList.remove("has-error");
    });
    Object.keys(errors).forEach(function (name) {
      var input = form.querySelector('[name="' + name + '"]');
      var field = input ? input.closest(".field") : null;
      var p = document.createElement("p");
      p.className = "error live-error";
      p.id = name ? "f-" + name + "-error" : "form-error-live";
      p.textContent = errors[name];
      if (field) {
        field.classList.add("has-error");
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", p.id);
        field.appendChild(p);
      } else {
        form.insertBefore(p, form.firstChild);
      }
    });
  }

  function update() {
    var body = new FormData(form);
    body.set("edit", form.getAttribute("data-edit") || "");
    var mine = ++sent;
    fetch(url, { method: "POST", body: body, credentials: "same-origin",
                 headers: { "X-CSRF-Token": token, "Accept": "application/json" } })
      .then(function (r) {  // 422: the errors by field
        if (!r.ok && r.status !== 422) { throw new Error(r.status); }
        return r.json();
      })
      .then(function (data) {
        if (mine !== sent) { return; }  // a newer change is on its way
        showErrors(data.errors || {});
        var preview = document.getElementById("preview");
        if (Object.keys(data.errors || {}).length) {
          var shown = document.getElementById("preview-pxelinux").textContent;
          text("preview-note", shown ? "Out of date: this is the form before the error " +
            "beside the field; fix it to update the preview." : "Shown once the form is valid.");
          preview.classList.add("stale");
          return;
        }
        preview.classList.remove("stale");
        text("preview-note", "Rendered by the same code as /boot/, live." +
          (data.pxelinux.indexOf("NEW-AT-SAVE") >= 0 ? " token.NEW-AT-SAVE stands for the install window's token, made when you save." : ""));
        text("preview-config", data.config);
        text("preview-append", data.append);
        text("preview-pxelinux", data.pxelinux);
        text("preview-ipxe", data.ipxe);
        var list = document.getElementById("preview-warnings");
        list.textContent = "";
        data.warnings.forEach(function (w) {
          var li = document.createElement("li");
          li.textContent = "Warning: " + w;
          list.appendChild(li);
        });
      })
      .catch(function () { /* the Preview button still works */ });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 300);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  update();
})();
