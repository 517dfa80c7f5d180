/* The home page's live preview of the featured map (maps/featured.py): the same layer the viewer
   opens on, asked from the layers API with the viewer's own parameters, drawn in a small still
   map that links to the viewer. No sample data here: tiles and a state, through the gate. */
(function () {
  "use strict";
  const box = document.getElementById("featured-map");
  const source = document.getElementById("featured-config");
  if (!box || !source || !window.L) return;
  const f = JSON.parse(source.textContent);
  const status = document.getElementById("featured-map-status");
  if (status) status.dataset.label = status.textContent;
  const map = L.map(box, {
    zoomControl: false, dragging: false, scrollWheelZoom: false, doubleClickZoom: false,
    boxZoom: false, keyboard: false, touchZoom: false, attributionControl: false,
  }).setView([f.lat, f.lng], Math.max(1, f.z - 1));
  const params = new URLSearchParams({ element: f.element, medium: f.medium, scale: f.scale, style: f.style });
  let delay = 300;
  function poll() {
    fetch(f.layers + "?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (layer) {
        box.dataset.layerState = layer.state;
        // While the layer renders the page says so (with its progress), then the tiles appear.
        const busy = layer.state === "queued" || layer.state === "rendering";
        if (status) {
          status.hidden = !busy;
          if (busy) status.textContent = status.dataset.label + " " + Math.round(layer.progress || 0) + " %";
        }
        if (busy) {
          setTimeout(poll, delay);
          delay = Math.min(2000, delay * 1.5);
          return;
        }
        if (layer.state !== "ready") return;
        L.tileLayer(layer.tiles, { maxNativeZoom: layer.maxzoom, className: "element-tiles" }).addTo(map);
      })
      .catch(function () {
        box.dataset.layerState = "failed";
        if (status) status.hidden = true;
      });
  }
  poll();
})();
