/* Green-land certificates map: units (GeoJSON from /certificates/map.geojson) coloured by grade,
   each with its label count; country outlines from the portal's /api/v1/boundaries. */
(function () {
  "use strict";
  const COLOURS = { priority_protection: "#15803d", safe_use: "#facc15", strict_control: "#b91c1c", too_few: "#cbd5e1" };
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(url + ": " + r.status); return r.json(); });
  }
  document.querySelectorAll(".certificate-map").forEach(function (el) {
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
