/* Green-land certificates map: units (GeoJSON from /certificates/map.geojson) coloured by grade,
   each with its label count; country outlines from the portal's /api/v1/boundaries. */
(function () {
  "use strict";
  const COLOURS = { priority_protection: "#15803d", safe_use: "#facc15", strict_control: "#b91c1c", too_few: "#cbd5e1" };
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(url + ": " + r.status); return r.json(); });
  }
  // A steward draws a plot inside a township: each click adds a corner; the polygon's GeoJSON
  // goes into the form's textarea (which can also be typed or pasted into).
  document.querySelectorAll(".draw-map").forEach(function (el) {
    const map = L.map(el);
    map.attributionControl.setPrefix(false);
    const outline = L.geoJSON(JSON.parse(document.getElementById(el.dataset.outline).textContent),
      { style: { color: "#0b6e99", weight: 2, fillOpacity: 0.05 }, interactive: false }).addTo(map);
    map.fitBounds(outline.getBounds(), { padding: [10, 10] });
    const target = document.getElementById(el.dataset.target);
    let corners = [];
    const shape = L.polygon([], { color: "#b45309", weight: 2 }).addTo(map);
    function write() {
      shape.setLatLngs(corners);
      if (corners.length < 3) { target.value = ""; return; }
      const ring = corners.map(function (c) { return [Number(c.lng.toFixed(6)), Number(c.lat.toFixed(6))]; });
      ring.push(ring[0]);
      target.value = JSON.stringify({ type: "Polygon", coordinates: [ring] });
    }
    map.on("click", function (e) { corners.push(e.latlng); write(); });
    const clear = el.parentNode.querySelector(".draw-clear");
    if (clear) clear.addEventListener("click", function () { corners = []; write(); });
  });

  document.querySelectorAll(".certificate-map:not(.draw-map)").forEach(function (el) {
    const map = L.map(el, { worldCopyJump: true }).setView([30, 0], 1);
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("Natural Earth");
    getJSON("/api/v1/boundaries").then(function (data) {
      L.geoJSON(data, { style: { color: "#8a9aa5", weight: 0.6, fillColor: "#f3f1ea", fillOpacity: 1 } })
        .addTo(map).bringToBack();
    }).catch(function () { /* units still draw without outlines */ });
    el.setAttribute("aria-busy", "true");
    getJSON(el.dataset.url).then(function (data) {
      const order = { county: 0, township: 1, plot: 2 };
      data.features.sort(function (a, b) { return order[a.properties.level] - order[b.properties.level]; });
      const layer = L.geoJSON(data, {
        style: function (f) {
          return { color: "#1e293b", weight: 1, fillColor: COLOURS[f.properties.grade] || "#cbd5e1", fillOpacity: 0.55 };
        },
        onEachFeature: function (f, l) {
          const p = f.properties;
          l.bindTooltip(p.name + ": " + p.grade_label + " (" + p.issued + ")");
          l.on("click", function () { window.location.href = p.url; });
        }
      }).addTo(map);
      const bounds = layer.getBounds();
      if (bounds.isValid()) map.fitBounds(bounds, { maxZoom: 10, padding: [10, 10] });
    }).catch(function (error) {
      const p = document.createElement("p");
      p.className = "notice";
      p.textContent = String(error.message || error);
      el.after(p);
    }).finally(function () { el.removeAttribute("aria-busy"); });
  });
})();
