/* Chemical Earth OGC API: the small map of an items page. The page's features (id, sample id and
   the location shown to the viewer, in longitude/latitude whatever CRS the table uses) come from
   the JSON script named by data-points; country outlines from the portal's own /api/v1/boundaries
   (no tile server, no other host). Each point links to its feature's page. */
(function () {
  "use strict";
  const BOUNDARIES = "/api/v1/boundaries";

  function draw(el) {
    const script = document.getElementById(el.dataset.points);
    const points = script ? JSON.parse(script.textContent) : [];
    const map = L.map(el, { worldCopyJump: true, attributionControl: true }).setView([30, 0], 1);
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("Natural Earth");
    fetch(BOUNDARIES, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        L.geoJSON(data, { interactive: false, style: { color: "#8a9aa5", weight: 0.6, fillColor: "#f3f1ea", fillOpacity: 1 } })
          .addTo(map).bringToBack();
      })
      .catch(function () { /* the points still draw without outlines */ });
    const layer = L.featureGroup(points.map(function (p) {
      const marker = L.circleMarker([p.lat, p.lon], { radius: 5, color: "#0b4f6c", weight: 1, fillColor: "#0b6e99", fillOpacity: 0.8 });
      marker.bindTooltip(String(p.code === null ? p.id : p.code));
      marker.on("click", function () {
        window.location.href = el.dataset.itemsUrl + "/" + encodeURIComponent(p.id) + "?f=html";
      });
      return marker;
    })).addTo(map);
    const bounds = layer.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { maxZoom: 7, padding: [12, 12] });
  }

  function init() {
    document.querySelectorAll(".ogc-map[data-points]").forEach(draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
