/* Chemical Earth dashboards: the maps of a dashboard page (charts are static/charts/charts.js).
   A <div class="dashboard-map"> with data-cells-url draws the sampled grid cells (GeoJSON from the
   dashboards API); with data-points="<id of a JSON script>" it draws the changed sites (red: rose,
   blue: fell). Country outlines come from the portal's own /api/v1/boundaries: no tile server. */
(function () {
  "use strict";
  const BOUNDARIES = "/api/v1/boundaries";

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(url + ": " + r.status); return r.json(); });
  }

  function baseMap(el) {
    const map = L.map(el, { worldCopyJump: true, attributionControl: true }).setView([30, 0], 1);
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("Natural Earth");
    getJSON(BOUNDARIES).then(function (data) {
      L.geoJSON(data, { style: { color: "#8a9aa5", weight: 0.6, fillColor: "#f3f1ea", fillOpacity: 1 } })
        .addTo(map).bringToBack();
    }).catch(function () { /* the cells still draw without outlines */ });
    return map;
  }

  function fit(map, layer) {
    const bounds = layer.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { maxZoom: 6, padding: [10, 10] });
  }

  // The exceedance map's own style: green none, yellow some, orange half or more above screening,
  // red where any sample is above intervention (the worst element of each sample decides).
  function exceedanceStyle(feature) {
    const p = feature.properties;
    const above = p.safe_use + p.strict_control;
    const colour = p.strict_control > 0 ? "#b91c1c" : above * 2 >= p.n ? "#ea580c" : above > 0 ? "#facc15" : "#15803d";
    return { color: "#334155", weight: 0.4, fillColor: colour, fillOpacity: 0.75 };
  }

  function describe(feature, layer) {
    const p = feature.properties;
    if (p.n === undefined) return;
    layer.bindTooltip(p.code + ": " + (p.safe_use + p.strict_control) + " / " + p.n);
  }

  function drawCells(el) {
    const map = baseMap(el);
    el.setAttribute("aria-busy", "true");
    getJSON(el.dataset.cellsUrl).then(function (data) {
      const style = el.dataset.style === "exceedance" ? exceedanceStyle : function () {
        return { color: "#0b6e99", weight: 0.5, fillColor: "#0b6e99", fillOpacity: 0.55 };
      };
      const layer = L.geoJSON(data, { style: style, onEachFeature: describe }).addTo(map);
      fit(map, layer);
    }).catch(function (error) {
      const p = document.createElement("p");
      p.className = "notice";
      p.textContent = String(error.message || error);
      el.after(p);
    }).finally(function () { el.removeAttribute("aria-busy"); });
  }

  function drawPoints(el) {
    const map = baseMap(el);
    const script = document.getElementById(el.dataset.points);
    const points = script ? JSON.parse(script.textContent) : [];
    const layer = L.featureGroup(points.map(function (p) {
      const colour = p.change_percent > 0 ? "#b91c1c" : "#1d4ed8";
      return L.circleMarker([p.lat, p.lon], { radius: 4, color: colour, weight: 1, fillOpacity: 0.8 })
        .bindTooltip(p.site + ": " + (p.change_percent > 0 ? "+" : "") + p.change_percent + " %");
    })).addTo(map);
    if (points.length) fit(map, layer);
  }

  function init() {
    document.querySelectorAll(".dashboard-map").forEach(function (el) {
      if (el.dataset.cellsUrl) drawCells(el);
      else if (el.dataset.points) drawPoints(el);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
