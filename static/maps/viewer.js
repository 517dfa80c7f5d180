/* Chemical Earth map viewer: element maps from the layer/tile API, cell statistics, charts of the
   view, comparison and permalinks. Plain ES2017 and Leaflet (served locally); every word shown
   comes translated from the page (config.strings). */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("viewer-config").textContent);
  const S = config.strings;
  const lang = config.language || "en";
  const isZh = lang.indexOf("zh") === 0;
  const elements = {};
  config.elements.forEach(function (e) { elements[e.symbol] = e; });
  const $ = function (id) { return document.getElementById(id); };

  // --- small helpers ---------------------------------------------------------------------------

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }
  const numberFormat = new Intl.NumberFormat(lang, { maximumSignificantDigits: 3 });
  const countFormat = new Intl.NumberFormat(lang);
  const percentFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  function num(value) {
    if (value === null || value === undefined || !isFinite(value)) return "—";
    return numberFormat.format(value);
  }
  function elementName(e) { return (isZh && e.name_zh) ? e.name_zh : e.name_en; }
  function elementUnit(e) { return (e.species ? e.species + " " : "") + e.unit; }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (!response.ok) {
            const reason = body && body.reason ? (typeof body.reason === "string" ? body.reason : JSON.stringify(body.reason)) : response.statusText;
            const error = new Error(reason);
            error.status = response.status;
            error.body = body;
            throw error;
          }
          return body;
        });
      });
  }
  function query(params) {
    return Object.keys(params).filter(function (k) { return params[k] !== null && params[k] !== undefined && params[k] !== ""; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }
  function showMessage(text) {
    const box = $("map-message");
    box.textContent = text;
    box.hidden = !text;
    clearTimeout(showMessage.timer);
    if (text) showMessage.timer = setTimeout(function () { box.hidden = true; }, 8000);
  }

  // Timings the benchmark and the browser tests read (benchmarks/viewer.py).
  const metrics = { chosenAt: null, layerReadyAt: null, firstTileAt: null, legendAt: null };
  window.chemearthViewer = { metrics: metrics, state: null };

  // --- state and permalinks ----------------------------------------------------------------------

  const scales = config.scales_km;
  const state = {
    element: null, medium: config.default.medium, scale: scales[0], pinned: false,
    style: config.default.style, scheme: config.default.scheme, ramp: config.default.ramp,
    opacity: 80, compare: null,
    lat: config.default.lat, lng: config.default.lng, z: config.default.z,
  };
  window.chemearthViewer.state = state;
  let available = {};  // symbol -> {n, finest_scale_km} in the current medium
  let byMedium = {};  // medium code -> the same for every medium (which media hold an element)

  function readUrl() {
    // A bare /map/ opens on the featured map (and its address then names it: a permalink).
    const f = config.featured;
    const p = new URLSearchParams(location.search || (f ? query({
      element: f.element, medium: f.medium, style: f.style, lat: f.lat, lng: f.lng, z: f.z,
    }) : ""));
    const num_ = function (key, fallback) { const v = parseFloat(p.get(key)); return isFinite(v) ? v : fallback; };
    state.element = elements[p.get("element")] ? p.get("element") : null;
    state.compare = elements[p.get("compare")] ? p.get("compare") : null;
    const medium = p.get("medium");
    state.medium = config.media.some(function (m) { return m.code === medium; }) ? medium : config.default.medium;
    state.style = config.styles.indexOf(p.get("style")) >= 0 ? p.get("style") : config.default.style;
    state.scheme = config.schemes.indexOf(p.get("scheme")) >= 0 ? p.get("scheme") : config.default.scheme;
    state.ramp = config.ramps.indexOf(p.get("ramp")) >= 0 ? p.get("ramp") : config.default.ramp;
    state.pinned = p.get("pin") === "1";
    const scale = num_("scale", NaN);
    state.scale = scales.indexOf(scale) >= 0 ? scale : null;
    state.opacity = Math.max(0, Math.min(100, num_("opacity", 80)));
    state.lat = Math.max(-85, Math.min(85, num_("lat", config.default.lat)));
    state.lng = num_("lng", config.default.lng);
    state.z = Math.max(1, Math.min(14, Math.round(num_("z", config.default.z))));
  }

  function urlOfState() {
    const params = {
      element: state.element, medium: state.medium, scale: state.scale, style: state.style,
      // Classes and colours only when not the defaults: older links stay as they were.
      scheme: state.scheme !== config.default.scheme ? state.scheme : "",
      ramp: state.ramp !== config.default.ramp ? state.ramp : "",
      pin: state.pinned ? "1" : "", compare: state.compare,
      opacity: state.opacity !== 80 ? state.opacity : "",
      lat: state.lat.toFixed(4), lng: state.lng.toFixed(4), z: state.z,
    };
    return location.pathname + "?" + query(params);
  }

  function writeUrl(push) {
    updateDownloadLink();
    const url = urlOfState();
    if (url === location.pathname + location.search) return;
    if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
    // The language switch returns to this very view.
    const next = document.querySelector("form.lang input[name=next]");
    if (next) next.value = url;
  }

  // "Download the data of this view": the downloads page, pre-filled with element, medium and box,
  // and for a GeoTIFF with the layer on screen (its scale and style).
  function updateDownloadLink() {
    const link = $("download-view");
    if (!link) return;
    const b = map.getBounds();
    const box = [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -90),
      Math.min(b.getEast(), 180), Math.min(b.getNorth(), 90)].map(function (v) { return v.toFixed(4); });
    link.href = config.urls.downloads + "?" + query({
      element: state.element || "", medium: state.medium, bbox: box.join(","),
      layer_scale: state.scale || "", style: state.style,
    });
  }

  function scaleForZoom(z) {
    let km = scales[scales.length - 1];
    for (let i = 0; i < config.zoom_scales_km.length; i++) {
      if (z <= config.zoom_scales_km[i][0]) { km = config.zoom_scales_km[i][1]; break; }
    }
    // Not finer than the finest survey holding the element: finer cells would only be sparser.
    const info = state.element && available[state.element];
    if (info && info.finest_scale_km && km < info.finest_scale_km) km = info.finest_scale_km;
    return km;
  }

  // --- maps -------------------------------------------------------------------------------------

  function makeMap(id) {
    // Leaflet's own controls in the page's language (its titles are English otherwise).
    const map = L.map(id, { center: [state.lat, state.lng], zoom: state.z, minZoom: 1, maxZoom: 14, worldCopyJump: true, zoomControl: false });
    L.control.zoom({ zoomInTitle: S.zoom_in, zoomOutTitle: S.zoom_out }).addTo(map);
    map.createPane("base");
    map.getPane("base").style.zIndex = 150;
    L.control.scale({ imperial: false }).addTo(map);
    map.attributionControl.setPrefix(false);
    map.getContainer().setAttribute("aria-label", S.map_keys);
    // Enter or space on the focused map opens the statistics of the cell at its centre: the cell
    // popup without a pointer (the arrow keys and + / − move and zoom the map first).
    map.getContainer().addEventListener("keydown", function (event) {
      if ((event.key !== "Enter" && event.key !== " ") || event.target !== map.getContainer()) return;
      event.preventDefault();
      map.fire("click", { latlng: map.getCenter(), target: map });
    });
    return map;
  }

  const map = makeMap("map");
  let map2 = null;
  let boundaries = null;  // GeoJSON, fetched once for both maps

  function addBaseLayers(target) {
    const countries = L.geoJSON(null, {
      pane: "base",
      renderer: L.canvas({ pane: "base" }),
      interactive: false,
      style: { color: "#8aa0ad", weight: 0.7, fillColor: "#f4f1ea", fillOpacity: 1 },
      attribution: "Natural Earth",
    });
    // The only base layer: served by the portal, drawn offline (no tile server at run time).
    countries.addTo(target);
    function fill() { countries.addData(boundaries); }
    if (boundaries) fill(); else boundariesReady.then(fill);
  }
  const boundariesReady = getJSON(config.urls.boundaries).then(function (data) { boundaries = data; })
    .catch(function (error) { showMessage(fmt(S.error, { reason: error.message })); });
  addBaseLayers(map);

  // --- element layers: ask the layer API, poll while it renders, then show tiles + legend -------

  function ElementLayer(targetMap, slot) {
    this.map = targetMap;
    this.slot = slot;  // "" or "2": which legend box
    this.tiles = null;
    this.key = null;
    this.token = 0;
    this.status = null;
  }

  ElementLayer.prototype.clear = function () {
    this.token += 1;
    this.what = null;
    if (this.title) this.title.getContainer().textContent = "";
    if (this.tiles) { this.map.removeLayer(this.tiles); this.tiles = null; }
    this.key = null;
    this.status = null;
    $("legend" + this.slot).hidden = true;
    updateRenderStatus();
  };

  ElementLayer.prototype.show = function (symbol) {
    const self = this;
    if (!symbol) { this.clear(); return; }
    const token = ++this.token;
    const params = {
      element: symbol, medium: state.medium, scale: state.scale, style: state.style,
      scheme: state.scheme, ramp: state.ramp,
    };
    // Another element or medium: its old tiles would be read as the new one's while it renders.
    // Another cell size or style of the same element: keep them until the new tiles arrive.
    const what = symbol + "/" + state.medium;
    if (this.what !== what) {
      this.removeTiles();
      this.key = null;
      $("legend" + this.slot).hidden = true;
    }
    this.what = what;
    this.setTitle(symbol);
    // Poll soon after a layer is queued (small layers render in well under a second), then
    // back off to once a second while a large one renders.
    let delay = 200;
    function poll() {
      if (token !== self.token) return;
      getJSON(config.urls.layers + "?" + query(params)).then(function (layer) {
        if (token !== self.token) return;
        self.status = layer;
        window.chemearthViewer["layer" + (self.slot || "1")] = layer;
        updateRenderStatus();
        if (layer.state === "queued" || layer.state === "rendering") {
          setTimeout(poll, delay);
          delay = Math.min(1000, delay * 1.5);
          return;
        }
        if (layer.state === "ready") {
          self.display(layer, token);
          self.renewLater(layer, token, params, symbol);
        } else {
          self.removeTiles();
          $("legend" + self.slot).hidden = true;
          showMessage(layer.state === "empty" ? S.empty : (layer.message || S.failed));
        }
      }).catch(function (error) {
        if (token !== self.token) return;
        self.status = null;
        updateRenderStatus();
        if (error.status === 403 && state.style === "points") {
          showMessage(S.points_forbidden);
          state.style = "cells";
          $("style").value = "cells";
          writeUrl(false);
          refreshLayers();
          return;
        }
        showMessage(fmt(S.error, { reason: error.message }));
      });
    }
    poll();
  };

  // A restricted layer's tile URL is a capability that expires (tiles_expire, epoch seconds):
  // ask for a fresh one a minute before and swap it in without redrawing the tiles on screen.
  ElementLayer.prototype.renewLater = function (layer, token, params, symbol) {
    const self = this;
    clearTimeout(this.renewal);
    if (!layer.tiles_expire) return;
    const wait = Math.max(5000, layer.tiles_expire * 1000 - Date.now() - 60000);
    this.renewal = setTimeout(function () {
      if (token !== self.token) return;
      getJSON(config.urls.layers + "?" + query(params)).then(function (fresh) {
        if (token !== self.token || !self.tiles) return;
        if (fresh.id === self.key && fresh.state === "ready") {
          self.tiles.setUrl(fresh.tiles, true);
          self.renewLater(fresh, token, params, symbol);
        } else {
          self.show(symbol);  // a new version of the layer: show it as a change would
        }
      }).catch(function () { self.renewLater(layer, token, params, symbol); });
    }, wait);
  };

  ElementLayer.prototype.setTitle = function (symbol) {
    // A label on each map in comparison, so the two are never confused.
    if (!this.title) {
      this.title = L.control({ position: "bottomleft" });
      this.title.onAdd = function () { return L.DomUtil.create("div", "map-title"); };
      this.title.addTo(this.map);
    }
    const e = elements[symbol];
    this.title.getContainer().textContent = e ? e.symbol + " · " + elementName(e) : "";
  };

  ElementLayer.prototype.removeTiles = function () {
    if (this.tiles) { this.map.removeLayer(this.tiles); this.tiles = null; }
  };

  ElementLayer.prototype.display = function (layer, token) {
    const self = this;
    if (this.key !== layer.id || !this.tiles) {
      const old = this.tiles;
      const options = { opacity: state.opacity / 100, maxNativeZoom: layer.maxzoom, minZoom: 0, maxZoom: 14, zIndex: 10, className: "element-tiles" };
      if (layer.bounds) options.bounds = L.latLngBounds([layer.bounds[1], layer.bounds[0]], [layer.bounds[3], layer.bounds[2]]);
      const tiles = L.tileLayer(layer.tiles, options);
      tiles.once("tileload", function () {
        if (self.slot === "" && metrics.firstTileAt === null) metrics.firstTileAt = performance.now();
      });
      tiles.once("load", function () { if (old) self.map.removeLayer(old); });
      tiles.addTo(this.map);
      this.tiles = tiles;
      this.key = layer.id;
      if (self.slot === "") metrics.layerReadyAt = performance.now();
      setTimeout(function () { if (old && self.map.hasLayer(old)) self.map.removeLayer(old); }, 3000);
    }
    getJSON(layer.legend).then(function (legend) {
      if (token !== self.token) return;
      renderLegend(self.slot, legend, layer.element);
      if (self.slot === "" && metrics.legendAt === null) metrics.legendAt = performance.now();
    }).catch(function (error) { showMessage(fmt(S.error, { reason: error.message })); });
  };

  ElementLayer.prototype.setOpacity = function (value) {
    if (this.tiles) this.tiles.setOpacity(value);
  };

  const layer1 = new ElementLayer(map, "");
  let layer2 = null;

  function updateRenderStatus() {
    const busy = [layer1, layer2].filter(function (l) {
      return l && l.status && (l.status.state === "queued" || l.status.state === "rendering");
    });
    const box = $("render-status");
    box.hidden = busy.length === 0;
    map.getContainer().dataset.layerState = layer1.status ? layer1.status.state : "none";
    if (!busy.length) return;
    const progress = Math.round(busy.reduce(function (sum, l) { return sum + (l.status.progress || 0); }, 0) / busy.length);
    const queued = busy.every(function (l) { return l.status.state === "queued"; });
    $("render-text").textContent = (queued ? S.queued : S.rendering) + " " + progress + " %";
    $("render-bar").style.width = progress + "%";
  }

  function renderLegend(slot, legend, symbol) {
    const e = elements[symbol] || { symbol: symbol, name_en: symbol };
    const unit = legend.unit || e.unit;
    const species = legend.species || e.species || symbol;
    let html = '<p class="legend-title"><strong>' + escapeHtml(species) + "</strong> (" + escapeHtml(unit) + ") · " + escapeHtml(elementName(e)) + "</p><table>";
    const classes = (legend.classes || []).slice().reverse();
    const hasBands = classes.some(function (c) { return c.band; });
    classes.forEach(function (c) {
      const lower = c.lower_display !== undefined ? c.lower_display : c.lower;
      const upper = c.upper_display !== undefined ? c.upper_display : c.upper;
      // Under a percentile scheme each class names its cumulative-frequency band (P5–P10).
      html += '<tr><td><span class="swatch" style="background:' + escapeHtml(c.colour) + '"></span></td>' +
        (hasBands ? '<td class="band">' + escapeHtml(c.band || "") + "</td>" : "") + '<td class="range">' +
        num(lower) + " – " + num(upper) + '</td><td class="muted count">' + (c.count !== undefined ? countFormat.format(c.count) : "") + "</td></tr>";
    });
    html += "</table>";
    if (legend.n !== undefined) {
      const share = legend.n ? 100 * (legend.censored_count || 0) / legend.n : 0;
      // A few censored values among thousands are not "0 %".
      const shareText = share > 0 && share < 0.1 ? "< " + percentFormat.format(0.1) + " %" : percentFormat.format(share) + " %";
      html += '<p class="muted small legend-n" data-n="' + legend.n + '">' + escapeHtml(fmt(S.legend_n, {
        n: countFormat.format(legend.n), censored: countFormat.format(legend.censored_count || 0),
        share: shareText,
      })) + "</p>";
    }
    const before = legend.before_release || {};
    if (before.cells) {
      html += '<p class="muted small prerelease-note">' + escapeHtml(fmt(S.legend_prerelease, { cells: countFormat.format(before.cells) })) + "</p>";
    }
    $("legend" + slot + "-body").innerHTML = html;
    $("legend" + slot).hidden = false;
  }

  // --- controls -----------------------------------------------------------------------------------

  config.media.forEach(function (m) { $("medium").add(new Option(m.name, m.code)); });
  config.styles.forEach(function (s) { $("style").add(new Option(S["style_" + s], s)); });
  config.schemes.forEach(function (s) { $("scheme").add(new Option(S["scheme_" + s] || s, s)); });
  config.ramps.forEach(function (r) { $("ramp").add(new Option(S["ramp_" + r] || r, r)); });
  scales.forEach(function (km) { $("scale").add(new Option(num(km) + " " + S.km, String(km))); });

  function syncControls() {
    $("medium").value = state.medium;
    $("style").value = state.style;
    $("scheme").value = state.scheme;
    $("ramp").value = state.ramp;
    $("scale").value = String(state.scale);
    $("pin-scale").checked = state.pinned;
    $("opacity").value = state.opacity;
    $("opacity-value").textContent = state.opacity + " %";
    $("compare").value = state.compare || "";
    const e = state.element && elements[state.element];
    $("element-symbol").textContent = e ? e.symbol : "?";
    $("element-name").textContent = e ? elementName(e) + " · " + elementUnit(e) : S.choose_element;
    document.querySelectorAll(".pt-el").forEach(function (b) {
      b.classList.toggle("current", b.dataset.symbol === state.element);
    });
  }

  function refreshLayers() {
    if (!state.pinned) state.scale = scaleForZoom(map.getZoom());
    $("scale").value = String(state.scale);
    layer1.show(state.element);
    if (layer2) layer2.show(state.compare);
    scheduleCharts();
  }

  $("medium").addEventListener("change", function () {
    state.medium = this.value;
    available = byMedium[state.medium] || {};
    updateTable();
    refreshLayers();
    writeUrl(true);
  });
  $("style").addEventListener("change", function () { state.style = this.value; refreshLayers(); writeUrl(true); });
  $("scheme").addEventListener("change", function () { state.scheme = this.value; refreshLayers(); writeUrl(true); });
  $("ramp").addEventListener("change", function () { state.ramp = this.value; refreshLayers(); writeUrl(true); });
  $("scale").addEventListener("change", function () {
    state.scale = parseFloat(this.value);
    state.pinned = true;  // choosing a size by hand pins it
    $("pin-scale").checked = true;
    refreshLayers();
    writeUrl(true);
  });
  $("pin-scale").addEventListener("change", function () {
    state.pinned = this.checked;
    refreshLayers();
    writeUrl(true);
  });
  $("opacity").addEventListener("input", function () {
    state.opacity = parseInt(this.value, 10);
    $("opacity-value").textContent = state.opacity + " %";
    layer1.setOpacity(state.opacity / 100);
    if (layer2) layer2.setOpacity(state.opacity / 100);
  });
  $("opacity").addEventListener("change", function () { writeUrl(false); });
  $("compare").addEventListener("change", function () {
    state.compare = this.value || null;
    applyCompare();
    writeUrl(true);
  });
  $("permalink").addEventListener("click", function () {
    writeUrl(false);
    const link = location.href;
    const done = function () { $("permalink-note").textContent = S.copied; };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(link).then(done, function () {});
    else done();
  });

  // Mobile drawer.
  function setDrawer(open) {
    $("viewer").classList.toggle("drawer-open", open);
    $("panel-toggle").setAttribute("aria-expanded", open ? "true" : "false");
  }
  $("panel-toggle").addEventListener("click", function () { setDrawer(!$("viewer").classList.contains("drawer-open")); });
  $("panel-close").addEventListener("click", function () { setDrawer(false); });

  // --- periodic table -------------------------------------------------------------------------------

  const grid = $("ptable-grid");
  config.elements.forEach(function (e) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "pt-el inactive";
    b.dataset.symbol = e.symbol;
    b.setAttribute("role", "option");
    b.style.gridRow = e.pos[0] > 7 ? e.pos[0] + 1 : e.pos[0];
    b.style.gridColumn = e.pos[1];
    b.innerHTML = '<span class="z">' + e.z + '</span><span class="sym">' + escapeHtml(e.symbol) +
      '</span><span class="nm">' + escapeHtml(elementName(e)) + '</span><span class="unit">' + escapeHtml(elementUnit(e)) + "</span>";
    b.title = e.symbol + " — " + e.name_en + (e.name_zh ? " / " + e.name_zh : "") + " (" + elementUnit(e) + ")";
    b.addEventListener("click", function () {
      if (available[e.symbol]) { chooseElement(e.symbol); return; }
      // No data in this medium but in another: switch to the medium holding most of it.
      const other = mediaOf(e.symbol)[0];
      if (!other) return;
      state.medium = other.code;
      $("medium").value = other.code;
      available = byMedium[other.code] || {};
      updateTable();
      chooseElement(e.symbol);
    });
    grid.appendChild(b);
  });
  const gap = document.createElement("div");
  gap.className = "pt-gap";
  gap.style.gridRow = 8;
  grid.appendChild(gap);

  // The media holding an element, most samples first: [{code, name, n}].
  function mediaOf(symbol) {
    return config.media.map(function (m) {
      const info = (byMedium[m.code] || {})[symbol];
      return info ? { code: m.code, name: m.name, n: info.n } : null;
    }).filter(Boolean).sort(function (a, b) { return b.n - a.n; });
  }

  function updateTable() {
    document.querySelectorAll(".pt-el").forEach(function (b) {
      const info = available[b.dataset.symbol];
      const media = mediaOf(b.dataset.symbol);
      const elsewhere = !info && media.length > 0;
      b.classList.toggle("active", !!info);
      b.classList.toggle("elsewhere", elsewhere);
      b.classList.toggle("inactive", !info && !elsewhere);
      b.setAttribute("aria-disabled", info || elsewhere ? "false" : "true");
      const e = elements[b.dataset.symbol];
      const held = media.map(function (m) { return m.name + " " + countFormat.format(m.n); }).join("; ");
      b.title = e.symbol + " — " + e.name_en + (e.name_zh ? " / " + e.name_zh : "") + " (" + elementUnit(e) + ") · " +
        (held ? S.samples + ": " + held : S.no_data);
    });
    const compare = $("compare");
    while (compare.options.length > 1) compare.remove(1);
    config.elements.forEach(function (e) {
      if (available[e.symbol]) compare.add(new Option(e.symbol + " — " + elementName(e), e.symbol));
    });
    compare.value = state.compare || "";
  }

  function matches(e, text) {
    const t = text.trim().toLowerCase();
    if (!t) return true;
    return e.symbol.toLowerCase() === t || e.symbol.toLowerCase().indexOf(t) === 0 ||
      e.name_en.toLowerCase().indexOf(t) >= 0 || (e.name_zh && e.name_zh.indexOf(text.trim()) >= 0) ||
      String(e.z) === t;
  }
  $("element-search").addEventListener("input", function () {
    const text = this.value;
    document.querySelectorAll(".pt-el").forEach(function (b) {
      const hit = matches(elements[b.dataset.symbol], text);
      b.classList.toggle("dim", !hit);
      b.classList.toggle("match", hit && text.trim() !== "");
    });
  });
  $("element-search").addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const text = this.value;
    // This medium's elements first, then those held in another (choosing one switches medium).
    const held = function (e) { return !!available[e.symbol]; };
    const elsewhere = function (e) { return !available[e.symbol] && mediaOf(e.symbol).length > 0; };
    const t = text.trim().toLowerCase();
    let hits = [];
    [held, elsewhere].some(function (has) {
      const exact = config.elements.filter(function (e) { return has(e) && e.symbol.toLowerCase() === t; });
      hits = exact.length ? exact : config.elements.filter(function (e) { return has(e) && matches(e, text); });
      return hits.length > 0;
    });
    if (hits.length) grid.querySelector(".pt-el[data-symbol='" + hits[0].symbol + "']").click();
  });
  $("element-button").addEventListener("click", function () {
    $("element-search").value = "";
    $("element-search").dispatchEvent(new Event("input"));
    $("ptable").showModal();
    $("element-search").focus();
  });
  $("ptable-close").addEventListener("click", function () { $("ptable").close(); });
  $("ptable").addEventListener("click", function (event) { if (event.target === this) this.close(); });

  function chooseElement(symbol) {
    if ($("ptable").open) $("ptable").close();
    state.element = symbol;
    metrics.chosenAt = performance.now();
    metrics.firstTileAt = metrics.legendAt = metrics.layerReadyAt = null;
    map.closePopup();
    syncControls();
    refreshLayers();
    writeUrl(true);
  }
  window.chemearthViewer.chooseElement = chooseElement;
  window.chemearthViewer.map = map;

  // Every medium's elements at once (cached per rights on the server): the table shows which
  // media hold each element, and choosing one held elsewhere switches to its medium.
  function loadAvailability() {
    return Promise.all(config.media.map(function (m) {
      return getJSON(config.urls.elements + "?" + query({ medium: m.code })).then(function (data) {
        const found = {};
        data.elements.forEach(function (e) { found[e.symbol] = e; });
        return [m.code, found];
      });
    })).then(function (pairs) {
      byMedium = {};
      pairs.forEach(function (p) { byMedium[p[0]] = p[1]; });
      available = byMedium[state.medium] || {};
      updateTable();
    }).catch(function (error) { showMessage(fmt(S.error, { reason: error.message })); });
  }

  // --- compare ----------------------------------------------------------------------------------

  let syncing = false;
  function follow(source, target) {
    source.on("move", function () {
      if (syncing || !target) return;
      syncing = true;
      target.setView(source.getCenter(), source.getZoom(), { animate: false });
      syncing = false;
    });
  }

  function applyCompare() {
    const on = !!state.compare;
    $("maps").classList.toggle("compare", on);
    $("map2").hidden = !on;
    if (on && !map2) {
      map2 = makeMap("map2");
      addBaseLayers(map2);
      layer2 = new ElementLayer(map2, "2");
      window.chemearthViewer.map2 = map2;
      follow(map, map2);
      follow(map2, map);
      map2.on("click", onMapClick);
    }
    map.invalidateSize();
    if (map2) {
      map2.invalidateSize();
      map2.setView(map.getCenter(), map.getZoom(), { animate: false });
    }
    if (layer2) layer2.show(on ? state.compare : null);
    $("legend2").hidden = !on || !layer2 || !layer2.tiles;
  }

  // --- the cell under a click -----------------------------------------------------------------------

  const cellLayers = {};
  function onMapClick(event) {
    const target = event.target;
    const symbol = target === map ? state.element : state.compare;
    if (!symbol) return;
    const latlng = event.latlng.wrap();
    const lat = Math.max(-85, Math.min(85, latlng.lat));
    // Kept clear of the zoom buttons (top left) and the layer switch (top right) when it pans
    // itself into view, on a phone too.
    const popup = L.popup({ maxWidth: 300, className: "cell-popup-wrap", autoPanPaddingTopLeft: [56, 90],
      autoPanPaddingBottomRight: [16, 16] }).setLatLng(event.latlng)
      .setContent('<div class="cell-popup">' + escapeHtml(S.loading) + "</div>").openOn(target);
    if (cellLayers[target._leaflet_id]) target.removeLayer(cellLayers[target._leaflet_id]);
    const group = L.layerGroup().addTo(target);
    cellLayers[target._leaflet_id] = group;
    target.once("popupclose", function () { target.removeLayer(group); });
    getJSON(config.urls.cell_at + "?" + query({ lon: latlng.lng.toFixed(6), lat: lat.toFixed(6), scale: state.scale }))
      .then(function (cell) {
        L.polygon(cell.outline.map(function (p) { return [p[1], p[0]]; }), { color: "#9a3412", weight: 2, fill: false, interactive: false }).addTo(group);
        // The style too: a points map's popup counts the points it shows (as its legend does).
        const params = query({ element: symbol, medium: state.medium, style: state.style });
        return Promise.all([
          getJSON(config.urls.cell_stats.replace("CODE", encodeURIComponent(cell.code)) + "?" + params),
          getJSON(config.urls.cell_samples.replace("CODE", encodeURIComponent(cell.code)) + "?" + params),
        ]).then(function (results) {
          popup.setContent(cellPopup(cell, symbol, results[0], results[1]));
          results[1].samples.forEach(function (s) {
            if (!s.location) return;
            const c = s.location.coordinates;
            L.circleMarker([c[1], c[0]], { radius: 5, color: "#1d2a33", weight: 1, fillColor: "#fbbf24", fillOpacity: 1 })
              .bindTooltip(escapeHtml(s.code) + ": " + (s.censored ? "< " + num(s.detection_limit) : num(s.value)))
              .addTo(group);
          });
        });
      })
      .catch(function (error) {
        popup.setContent('<div class="cell-popup">' + escapeHtml(fmt(S.error, { reason: error.message })) + "</div>");
      });
  }
  map.on("click", onMapClick);

  function cellPopup(cell, symbol, stats, samples) {
    const d = stats.display || {};
    const st = d.statistics || stats.statistics || {};
    const unit = (d.species && d.species !== symbol ? d.species + " " : "") + (d.unit || stats.unit);
    let html = '<div class="cell-popup" data-cell="' + escapeHtml(cell.code) + '"><h3>' + escapeHtml(S.cell) + " " + escapeHtml(cell.code) + "</h3>";
    html += '<p class="muted small">' + escapeHtml(symbol) + " · " + escapeHtml(unit) + " · " + num(cell.scale_km) + " " + escapeHtml(S.km) + "</p>";
    html += '<table class="stats"><tr><th>' + escapeHtml(S.n_samples) + '</th><td class="n">' + countFormat.format(st.n || 0) + "</td></tr>";
    html += "<tr><th>" + escapeHtml(S.censored) + '</th><td class="censored">' + countFormat.format(st.censored || 0) + "</td></tr>";
    if (st.n) {
      ["min", "p5", "p25", "median", "p75", "p95", "max", "mean", "geometric_mean", "mad"].forEach(function (k) {
        html += "<tr><th>" + escapeHtml(S[k]) + '</th><td class="' + k + '">' + num(st[k]) + "</td></tr>";
      });
    } else if (!stats.before_release) {
      html += '<tr><td colspan="2" class="muted">' + escapeHtml(S.cell_empty) + "</td></tr>";
    }
    html += "</table>";
    if (stats.before_release) {
      html += '<p class="muted small prerelease-note">' + escapeHtml(fmt(S.cell_prerelease, { n: countFormat.format(stats.before_release.samples) })) + "</p>";
    }
    if (samples.samples.length) {
      html += '<div class="samples"><strong>' + escapeHtml(S.samples_in_cell) + '</strong><table><tr><th>' + escapeHtml(S.sample) + "</th><th>" + escapeHtml(S.value) + "</th><th>" + escapeHtml(S.method) + "</th><th>" + escapeHtml(S.location) + "</th></tr>";
      samples.samples.forEach(function (s) {
        // A censored value is its limit, "< DL": never a number that looks measured.
        const value = s.censored
          ? '<span class="below-dl" title="' + escapeHtml(fmt(S.below_dl_title, { dl: num(s.detection_limit) })) + '">&lt; ' + escapeHtml(S.dl) + " " + num(s.detection_limit) + "</span>"
          : num(s.value);
        const where = s.location ? S.exact : (s.location_precision_km ? fmt(S.snapped, { km: num(s.location_precision_km) }) : "—");
        html += '<tr><td>' + escapeHtml(s.code) + '</td><td class="value">' + value + '</td><td class="method">' + escapeHtml(s.method || "—") + "</td><td>" + escapeHtml(where) + "</td></tr>";
      });
      html += "</table>";
      const more = samples.samples_in_cell - samples.samples.length;
      if (samples.truncated && more > 0) html += '<p class="muted small">' + escapeHtml(fmt(S.more_samples, { n: countFormat.format(more) })) + "</p>";
      html += "</div>";
    }
    return html + "</div>";
  }

  // --- charts of the view (drawn by ChemCharts, static/charts/charts.js) --------------------------

  let chartsTimer = null;
  let chartsToken = 0;
  function scheduleCharts() {
    clearTimeout(chartsTimer);
    chartsTimer = setTimeout(loadCharts, 400);
  }
  function viewBbox() {
    const b = map.getBounds();
    let west = b.getWest(), east = b.getEast();
    if (east - west >= 360) { west = -180; east = 180; }
    // Wrap a view that crossed the antimeridian by panning back onto the world.
    while (west < -180) { west += 360; east += 360; }
    while (west > 180) { west -= 360; east -= 360; }
    west = Math.max(-180, west); east = Math.min(180, east);
    const south = Math.max(-90, b.getSouth()), north = Math.min(90, b.getNorth());
    return [west, south, east, north].map(function (v) { return v.toFixed(3); }).join(",");
  }
  function loadCharts() {
    if (!state.element) { $("charts").hidden = true; return; }
    const token = ++chartsToken;
    // The style too: in points mode the charts count the rows the points show (as the legend).
    const params = { element: state.element, medium: state.medium, scale: state.scale, style: state.style, bbox: viewBbox() };
    getJSON(config.urls.values + "?" + query(params)).then(function (data) {
      if (token !== chartsToken) return;
      $("charts").hidden = false;
      const unit = (data.species !== data.element ? data.species + " " : "") + data.unit;
      $("charts-summary").textContent = data.n ? fmt(S.view_values, { n: countFormat.format(data.n) }) + " · " + S.median + " " + num(data.statistics.median) + " " + unit : S.no_values;
      drawHistogram(data, unit);
      drawProbability(data, unit);
    }).catch(function () { if (token === chartsToken) $("charts").hidden = true; });
  }

  // What the downloads are called and say: element, medium, cell size and the chart.
  function chartTitle(data, name) {
    const e = elements[data.element] || { symbol: data.element, name_en: data.element };
    const medium = config.media.filter(function (m) { return m.code === data.medium; })[0];
    return name + " · " + e.symbol + " " + elementName(e) + " · " + (medium ? medium.name : data.medium) + " · " + num(data.scale_km) + " " + S.km;
  }
  function chartFile(data, kind) {
    return ["chemearth", kind, data.element, data.medium, data.scale_km + "km"].join("-");
  }
  function drawHistogram(data, unit) {
    const box = $("histogram");
    const h = data.histogram || { edges: [], counts: [] };
    if (!data.n || !h.edges.length || !window.ChemCharts) {
      if (window.ChemCharts) ChemCharts.clear(box);
      box.hidden = true;
      return;
    }
    const bins = h.counts.map(function (c, i) { return [h.edges[i], h.edges[i + 1], c]; });
    ChemCharts.render(box, {
      title: chartTitle(data, S.histogram), showTitle: false, type: "histogram", xLog: true,
      series: [{ name: S.count, data: bins }], xLabel: S.value, yLabel: S.count, unit: unit,
      csv: { columns: [S.bin_lower + " (" + unit + ")", S.bin_upper + " (" + unit + ")", S.count], rows: bins },
      filename: chartFile(data, "histogram"),
    });
  }
  function drawProbability(data, unit) {
    const box = $("probability");
    const points = (data.probability || []).filter(function (p) { return p[0] > 0; });
    if (!data.n || !points.length || !window.ChemCharts) {
      if (window.ChemCharts) ChemCharts.clear(box);
      box.hidden = true;
      return;
    }
    ChemCharts.render(box, {
      title: chartTitle(data, S.probability), showTitle: false, type: "cdf", xLog: true, yScale: "normal",
      series: [{ name: S.probability, data: points.map(function (p) { return [p[0], p[1]]; }) }],
      xLabel: S.value, yLabel: S.probability_axis, unit: unit,
      csv: {
        columns: [S.value + " (" + unit + ")", S.probability_axis, "z"],
        // Every point, also those a log axis cannot show (values ≤ 0).
        rows: data.probability.map(function (p) { return [p[0], Math.round(p[1] * 1e6) / 1e4, p[2]]; }),
      },
      filename: chartFile(data, "probability"),
    });
  }

  // --- wiring: moves, zoom-following scale, history ---------------------------------------------------

  map.on("moveend", function () {
    const c = map.getCenter().wrap();
    state.lat = c.lat; state.lng = c.lng; state.z = map.getZoom();
    if (!state.pinned && state.element) {
      const km = scaleForZoom(state.z);
      if (km !== state.scale) { state.scale = km; refreshLayers(); }
    } else if (!state.pinned) {
      state.scale = scaleForZoom(state.z);
      $("scale").value = String(state.scale);
    }
    scheduleCharts();
    writeUrl(false);
  });

  function applyState() {
    if (!state.pinned || !state.scale) state.scale = scaleForZoom(state.z);
    syncControls();
    map.setView([state.lat, state.lng], state.z, { animate: false });
    layer1.show(state.element);
    applyCompare();
    scheduleCharts();
  }

  window.addEventListener("popstate", function () {
    readUrl();
    loadAvailability().then(applyState);
  });

  readUrl();
  syncControls();
  loadAvailability().then(function () {
    applyState();
    writeUrl(false);
    document.body.dataset.viewerReady = "1";
  });
})();
