/* "Save image" on the map viewer: a small dialog (format, paper, orientation, DPI) that asks the
   portal for a PNG or PDF of the view on screen (/api/v1/layers/<id>/image.png|.pdf, drawn on the
   server from the layer itself) and saves it. It reads the view from window.chemearthViewer
   (static/maps/viewer.js: the Leaflet map, the layer document and the state); every word comes
   translated from the dialog's data attributes. */
(function () {
  "use strict";

  const dialog = document.getElementById("save-image-dialog");
  const opener = document.getElementById("save-image");
  if (!dialog || !opener || typeof dialog.showModal !== "function") return;
  const form = document.getElementById("save-image-form");
  const status = document.getElementById("save-image-status");
  const go = document.getElementById("save-image-go");
  const KEY = "000000000000000000000000";  // the placeholder in data-url

  function viewer() { return window.chemearthViewer || {}; }

  // The layer on screen, if it is drawn (ready) or known to be empty.
  function currentLayer() {
    const v = viewer();
    const layer = v.layer1;
    if (!layer || !v.state || !v.state.element || layer.element !== v.state.element) return null;
    return layer.state === "ready" || layer.state === "empty" ? layer : null;
  }

  // west,south,east,north of the main map, within the world (as the download link does).
  function viewBox() {
    const b = viewer().map.getBounds();
    return [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -85.05),
      Math.min(b.getEast(), 180), Math.min(b.getNorth(), 85.05)]
      .map(function (v) { return v.toFixed(4); }).join(",");
  }

  function say(text) { status.textContent = text; }

  function fileName(response, fallback) {
    const header = response.headers.get("Content-Disposition") || "";
    const match = /filename="([^"]+)"/.exec(header);
    return match ? match[1] : fallback;
  }

  function save(blob, name) {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 10000);
  }

  opener.addEventListener("click", function () {
    say(currentLayer() ? "" : dialog.dataset.noLayer);
    dialog.showModal();
  });
  function close() { dialog.close(); opener.focus(); }
  document.getElementById("save-image-cancel").addEventListener("click", close);
  document.getElementById("save-image-close").addEventListener("click", close);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const layer = currentLayer();
    if (!layer) { say(dialog.dataset.noLayer); return; }
    const format = form.elements.format.value;
    const params = new URLSearchParams({
      bbox: viewBox(), paper: form.elements.paper.value,
      orientation: form.elements.orientation.value, dpi: form.elements.dpi.value,
      lang: document.documentElement.lang || "en",
    });
    const url = dialog.dataset.url.replace(KEY, layer.id).replace(/png$/, format) + "?" + params;
    go.disabled = true;
    dialog.setAttribute("aria-busy", "true");
    say(dialog.dataset.working);
    fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          const reason = body && body.reason ? (typeof body.reason === "string" ? body.reason : JSON.stringify(body.reason)) : response.statusText;
          throw new Error(reason);
        });
      }
      const name = fileName(response, "chemearth-map." + format);
      return response.blob().then(function (blob) { save(blob, name); });
    }).then(function () {
      say(dialog.dataset.done);
      viewer().lastImage = url;  // for tests and for anyone who wants the address
      close();
    }).catch(function (error) {
      say(dialog.dataset.failed + " " + error.message);
    }).finally(function () {
      go.disabled = false;
      dialog.removeAttribute("aria-busy");
    });
  });
})();
