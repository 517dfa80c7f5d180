/* Chemical Earth charts: one small wrapper around Apache ECharts (static/vendor/echarts/) so every
   page draws its charts the same way, with the same downloads (PNG, SVG, CSV) and data table.

   Usage (no inline script, so a Content-Security-Policy without 'unsafe-inline' holds):
     <figure class="chem-chart" data-chart="cu-chart" data-label-download="…" data-label-table="…">
       <figcaption>…</figcaption><div class="chart-canvas"></div>
     </figure>
     {{ spec|json_script:"cu-chart" }}
   Containers with data-chart="<id of a JSON script>" are drawn when the page loads; scripts may
   call ChemCharts.render(container, spec) and ChemCharts.clear(container) themselves.

   spec = {
     title, type: "bar" | "hbar" | "line" | "histogram" | "cdf" | "boxplot" | "scatter",
     categories?: [...]            bar, hbar, line and boxplot: the category axis
     series: [{name, data}]        bar/hbar/line: one number per category (line without
                                   categories: [x, y] pairs); histogram: [lower, upper, count]
                                   bins; cdf: [value, cumulative probability 0–1] points;
                                   boxplot: [min, Q1, median, Q3, max] per category;
                                   scatter: [x, y] pairs
     xLabel, yLabel, unit?         unit joins the value axis' label (x for histogram, cdf and hbar,
                                   y for bar, line and boxplot) and the tooltips
     xLog?: true                   histogram, cdf, scatter: x on a log10 axis (values ≤ 0 dropped)
     yScale?: "normal"             cdf: normal-probability y axis (a log-normal sample is straight)
     showTitle?: false             the page already shows the title (downloads still carry it)
     height?: px                   default 240 (or the container's data-height)
     csv: {columns: [...], rows: [[...], ...]}   what the CSV download and the data table hold
     filename                      without extension
   }
   Labels of the buttons and the table come from the container's data-label-download,
   data-label-png, data-label-svg, data-label-csv and data-label-table (English fallbacks), so
   templates translate them. The chart follows <html lang>: zh* uses ECharts' Chinese locale. */
(function () {
  "use strict";

  const echarts = window.echarts;
  const FALLBACK = { download: "Download", png: "PNG", svg: "SVG", csv: "CSV", table: "Data table" };
  const PALETTE = ["#0b6e99", "#c2410c", "#15803d", "#7c3aed", "#a16207", "#0f766e", "#be123c", "#475569"];
  const INK = "#1d2a33", MUTED = "#5b6b76", LINE = "#9aa9b3", GRID = "#e5ebef";
  // Single quotes: ECharts writes the family unescaped into a double-quoted style attribute of the
  // SVG download, where a double quote would end the attribute (the file would not parse).
  const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Noto Sans CJK SC', 'PingFang SC', 'Microsoft YaHei', sans-serif";
  // Percent ticks of a normal-probability axis, at their normal quantiles.
  const PROBABILITY_TICKS = [0.1, 1, 5, 25, 50, 75, 95, 99, 99.9];
  const charts = new Set();  // containers drawn, for resizing
  const state = new WeakMap();  // container -> {chart, spec, canvas, observer}

  function language() { return (document.documentElement.lang || "en").toLowerCase(); }
  function echartsLocale() { return language().indexOf("zh") === 0 ? "ZH" : "EN"; }
  function numberFormat() {
    try { return new Intl.NumberFormat(language(), { maximumSignificantDigits: 3 }); } catch (e) { return new Intl.NumberFormat("en", { maximumSignificantDigits: 3 }); }
  }
  function num(value) {
    if (value === null || value === undefined || !isFinite(value)) return "—";
    return numberFormat().format(value);
  }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function label(container, key) {
    const attr = container.getAttribute("data-label-" + key);
    return attr && attr.trim() ? attr : FALLBACK[key];
  }
  function withUnit(text, unit) { return unit ? (text ? text + " (" + unit + ")" : unit) : (text || ""); }
  function safeName(name) {
    return String(name || "chart").normalize("NFKC").replace(/[\\/:*?"<>|\u0000-\u001f]+/g, "-").replace(/\s+/g, "_").slice(0, 120) || "chart";
  }

  // Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).
  function normalQuantile(p) {
    const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2, -3.066479806614716e1, 2.506628277459239];
    const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    const low = 0.02425;
    let q, r;
    if (p <= 0) return -Infinity;
    if (p >= 1) return Infinity;
    if (p < low) {
      q = Math.sqrt(-2 * Math.log(p));
      return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - low) {
      q = Math.sqrt(-2 * Math.log(1 - p));
      return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    q = p - 0.5;
    r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }

  // Ticks of a log axis between lo and hi: the powers of ten, or 1-2-5 steps when the range holds
  // fewer than two of them.
  function logTicks(lo, hi) {
    const e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi));
    const pick = function (steps) {
      const out = [];
      for (let e = e0; e <= e1; e++) {
        steps.forEach(function (m) { const v = m * Math.pow(10, e); if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v); });
      }
      return out;
    };
    let ticks = pick([1]);
    if (ticks.length < 2) ticks = pick([1, 2, 5]);
    if (ticks.length < 2) ticks = pick([1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9]);
    return ticks.map(Math.log10);
  }

  // --- the ECharts option of a spec ----------------------------------------------------------

  function baseOption(spec, forExport) {
    const titled = forExport || spec.showTitle !== false;
    return {
      animation: !forExport,
      animationDuration: 300,
      backgroundColor: forExport ? "#fff" : "transparent",
      color: PALETTE,
      textStyle: { fontFamily: FONT, color: INK },
      title: titled ? { text: spec.title || "", left: 0, top: 0, textStyle: { fontSize: 13, fontWeight: 600, color: INK } } : undefined,
      legend: (spec.series || []).length > 1 ? { top: titled ? 22 : 0, left: 0, textStyle: { fontSize: 11, color: MUTED }, type: "scroll" } : undefined,
      grid: { left: 8, right: 16, bottom: 30, top: (titled ? 24 : 0) + ((spec.series || []).length > 1 ? 24 : 0) + 26, containLabel: true },
      tooltip: { confine: true, textStyle: { fontSize: 12 } },
    };
  }

  function axisStyle(extra) {
    return Object.assign({
      nameTextStyle: { color: MUTED, fontSize: 11 },
      axisLine: { onZero: false, lineStyle: { color: LINE } },
      axisTick: { lineStyle: { color: LINE } },
      axisLabel: { color: MUTED, fontSize: 10, hideOverlap: true },
      splitLine: { lineStyle: { color: GRID } },
    }, extra);
  }
  function xName(text) { return { name: text || "", nameLocation: "middle", nameGap: 24 }; }
  function yName(text) { return { name: text || "", nameLocation: "end", nameGap: 10, nameTextStyle: { color: MUTED, fontSize: 11, align: "left" } }; }

  // A value axis, optionally log10: the data are given as log10 and the labels as 10^v.
  function valueAxis(values, log, names) {
    const axis = axisStyle(Object.assign({ type: "value", scale: true }, names));
    const finite = values.filter(function (v) { return isFinite(v) && (!log || v > 0); });
    if (!log || !finite.length) return axis;
    let lo = Math.min.apply(null, finite), hi = Math.max.apply(null, finite);
    if (hi / lo < 1.01) { lo /= 1.5; hi *= 1.5; }
    const ticks = logTicks(lo, hi);
    axis.min = Math.log10(lo);
    axis.max = Math.log10(hi);
    axis.axisTick = Object.assign({}, axis.axisTick, { customValues: ticks });
    axis.axisLabel = Object.assign({}, axis.axisLabel, { customValues: ticks, formatter: function (v) { return num(Math.pow(10, v)); } });
    return axis;
  }
  function lg(v, log) { return log ? (v > 0 ? Math.log10(v) : null) : v; }

  function categoryAxis(categories, names) {
    return axisStyle(Object.assign({ type: "category", data: categories || [], axisLabel: { color: MUTED, fontSize: 10, hideOverlap: true }, splitLine: { show: false } }, names));
  }

  function buildOption(spec, forExport) {
    const option = baseOption(spec, forExport);
    const series = spec.series || [];
    const unit = spec.unit || "";
    const unitSuffix = unit ? " " + unit : "";
    const valueFormatter = function (v) { return Array.isArray(v) ? v.map(num).join(", ") : num(v) + unitSuffix; };
    switch (spec.type) {
      case "hbar":
        option.yAxis = categoryAxis(spec.categories, yName(spec.yLabel));
        option.yAxis.inverse = true;
        option.xAxis = valueAxis([], false, xName(withUnit(spec.xLabel, unit)));
        option.xAxis.scale = false;
        option.series = series.map(function (s) { return { type: "bar", name: s.name, data: s.data }; });
        option.tooltip.trigger = "axis";
        option.tooltip.valueFormatter = valueFormatter;
        break;
      case "bar":
      case "boxplot":
        option.xAxis = categoryAxis(spec.categories, xName(spec.xLabel));
        option.yAxis = valueAxis([], false, yName(withUnit(spec.yLabel, unit)));
        option.yAxis.scale = spec.type === "boxplot";
        option.series = series.map(function (s) {
          return spec.type === "bar" ? { type: "bar", name: s.name, data: s.data }
            : { type: "boxplot", name: s.name, data: s.data, itemStyle: { borderColor: PALETTE[0], color: "#e6f1f6" } };
        });
        option.tooltip.trigger = spec.type === "bar" ? "axis" : "item";
        if (spec.type === "bar") option.tooltip.valueFormatter = valueFormatter;
        break;
      case "line":
        if (spec.categories) {
          option.xAxis = categoryAxis(spec.categories, xName(spec.xLabel));
          option.xAxis.boundaryGap = false;
        } else {
          option.xAxis = valueAxis([], false, xName(spec.xLabel));
        }
        option.yAxis = valueAxis([], false, yName(withUnit(spec.yLabel, unit)));
        option.series = series.map(function (s) { return { type: "line", name: s.name, data: s.data, showSymbol: s.data.length <= 40 }; });
        option.tooltip.trigger = "axis";
        option.tooltip.valueFormatter = valueFormatter;
        break;
      case "scatter": {
        const xs = [];
        series.forEach(function (s) { s.data.forEach(function (p) { xs.push(p[0]); }); });
        option.xAxis = valueAxis(xs, !!spec.xLog, xName(spec.xLabel));
        option.yAxis = valueAxis([], false, yName(spec.yLabel));
        option.series = series.map(function (s) {
          return {
            type: "scatter", name: s.name, symbolSize: 6,
            data: s.data.map(function (p) { return [lg(p[0], spec.xLog), p[1], p[0]]; }).filter(function (p) { return p[0] !== null; }),
          };
        });
        option.tooltip.trigger = "item";
        option.tooltip.formatter = function (p) {
          return escapeHtml(p.seriesName) + "<br>" + escapeHtml(num(p.value[2]) + ", " + num(p.value[1]));
        };
        break;
      }
      case "histogram": {
        const edges = [];
        series.forEach(function (s) { s.data.forEach(function (b) { edges.push(b[0], b[1]); }); });
        option.xAxis = valueAxis(edges, !!spec.xLog, xName(withUnit(spec.xLabel, unit)));
        option.xAxis.scale = true;
        option.yAxis = valueAxis([], false, yName(spec.yLabel));
        option.yAxis.scale = false;
        option.yAxis.minInterval = 1;
        option.series = series.map(function (s, k) {
          return {
            type: "custom", name: s.name,
            data: s.data.map(function (b) { return [lg(b[0], spec.xLog), lg(b[1], spec.xLog), b[2], b[0], b[1]]; })
              .filter(function (b) { return b[0] !== null && b[1] !== null; }),
            encode: { x: [0, 1], y: 2, tooltip: 2 },
            renderItem: function (params, api) {
              if (!(api.value(2) > 0)) return null;  // an empty bin draws nothing
              const start = api.coord([api.value(0), api.value(2)]);
              const end = api.coord([api.value(1), 0]);
              const width = Math.max(0.5, end[0] - start[0] - 1);
              return {
                type: "rect",
                shape: { x: start[0] + 0.5, y: start[1], width: width, height: Math.max(0, end[1] - start[1]) },
                style: { fill: PALETTE[k % PALETTE.length], opacity: 0.85 },
              };
            },
          };
        });
        option.tooltip.trigger = "item";
        option.tooltip.formatter = function (p) {
          return escapeHtml(num(p.value[3]) + "–" + num(p.value[4]) + unitSuffix + ": " + p.value[2]);
        };
        break;
      }
      case "cdf": {
        const normal = spec.yScale === "normal";
        const xs = [];
        series.forEach(function (s) { s.data.forEach(function (p) { xs.push(p[0]); }); });
        option.xAxis = valueAxis(xs, !!spec.xLog, xName(withUnit(spec.xLabel, unit)));
        let zmax = 2.5;
        option.series = series.map(function (s) {
          return {
            type: "line", name: s.name, showSymbol: false, step: normal ? false : "end", lineStyle: { width: 1.5 },
            data: s.data.map(function (p) {
              const y = normal ? normalQuantile(p[1]) : p[1] * 100;
              if (normal && isFinite(y)) zmax = Math.max(zmax, Math.abs(y));
              return [lg(p[0], spec.xLog), y, p[0], p[1]];
            }).filter(function (p) { return p[0] !== null && isFinite(p[1]); }),
          };
        });
        if (normal) {
          zmax = Math.min(4, zmax + 0.1);
          const ticks = PROBABILITY_TICKS.map(function (t) { return normalQuantile(t / 100); }).filter(function (z) { return Math.abs(z) <= zmax; });
          option.yAxis = axisStyle(Object.assign({ type: "value", min: -zmax, max: zmax }, yName(spec.yLabel)));
          option.yAxis.axisTick = Object.assign({}, option.yAxis.axisTick, { customValues: ticks });
          option.yAxis.axisLabel = Object.assign({}, option.yAxis.axisLabel, {
            customValues: ticks, hideOverlap: false,
            formatter: function (z) {
              const p = 100 * (0.5 * (1 + erf(z / Math.SQRT2)));
              return num(Math.round(p * 10) / 10);
            },
          });
        } else {
          option.yAxis = axisStyle(Object.assign({ type: "value", min: 0, max: 100 }, yName(spec.yLabel)));
        }
        option.tooltip.trigger = "axis";
        option.tooltip.formatter = function (items) {
          return items.map(function (p) { return escapeHtml(num(p.value[2]) + unitSuffix + ": " + num(p.value[3] * 100) + " %"); }).join("<br>");
        };
        break;
      }
      default:
        throw new Error("ChemCharts: unknown chart type " + spec.type);
    }
    return option;
  }

  // erf for the normal axis' labels (Abramowitz and Stegun 7.1.26; the labels are rounded).
  function erf(x) {
    const sign = x < 0 ? -1 : 1;
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    const y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
    return sign * y;
  }

  // --- CSV ----------------------------------------------------------------------------------------

  // RFC 4180: CRLF lines, fields with a quote, comma or line break quoted and their quotes doubled.
  // Text that a spreadsheet would run as a formula starts with an apostrophe.
  function csvField(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return isFinite(value) ? String(value) : "";
    let text = String(value);
    if (/^[=+\-@\t\r]/.test(text) && !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) text = "'" + text;
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function toCsv(csv) {
    const lines = [(csv.columns || []).map(csvField).join(",")];
    (csv.rows || []).forEach(function (row) { lines.push(row.map(csvField).join(",")); });
    // The byte-order mark makes Excel read the file as UTF-8 (Chinese names).
    return "\uFEFF" + lines.join("\r\n") + "\r\n";
  }

  // --- downloads -------------------------------------------------------------------------------

  function download(href, filename) {
    const a = document.createElement("a");
    a.href = href;
    a.download = filename;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { a.remove(); }, 0);
  }

  function exportSize(entry) {
    const w = Math.max(640, entry.canvas.clientWidth || 0);
    const h = Math.max(360, entry.canvas.clientHeight || 0);
    return { width: w, height: h };
  }

  // A second, invisible chart of the same spec, with its title and a white background and no
  // animation, drawn by the asked renderer: the page's chart stays as it is.
  function offscreen(entry, renderer, work) {
    const size = exportSize(entry);
    const div = document.createElement("div");
    const chart = echarts.init(div, null, { renderer: renderer, width: size.width, height: size.height, locale: echartsLocale() });
    try {
      chart.setOption(buildOption(entry.spec, true));
      return work(chart, size);
    } finally {
      chart.dispose();
    }
  }

  function svgText(entry) {
    return offscreen(entry, "svg", function (chart) {
      const svg = chart.renderToSVGString();
      return svg.indexOf("<?xml") === 0 ? svg : '<?xml version="1.0" encoding="UTF-8"?>\n' + svg;
    });
  }

  // PNG from ECharts' canvas renderer; a build without it would draw the SVG onto a canvas.
  function pngUrl(entry) {
    try {
      return Promise.resolve(offscreen(entry, "canvas", function (chart) {
        return chart.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" });
      }));
    } catch (error) {
      return new Promise(function (resolve, reject) {
        const svg = svgText(entry);
        const size = exportSize(entry);
        const img = new Image();
        img.onload = function () {
          const canvas = document.createElement("canvas");
          canvas.width = size.width * 2;
          canvas.height = size.height * 2;
          const ctx = canvas.getContext("2d");
          ctx.fillStyle = "#fff";
          ctx.fillRect(0, 0, canvas.width, canvas.height);
          ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
          resolve(canvas.toDataURL("image/png"));
        };
        img.onerror = function () { reject(error); };
        img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
      });
    }
  }

  function exportAs(container, kind) {
    const entry = state.get(container);
    if (!entry) return;
    const name = safeName(entry.spec.filename || entry.spec.title);
    if (kind === "png") {
      pngUrl(entry).then(function (url) { download(url, name + ".png"); });
    } else if (kind === "svg") {
      download("data:image/svg+xml;charset=utf-8," + encodeURIComponent(svgText(entry)), name + ".svg");
    } else if (kind === "csv") {
      download("data:text/csv;charset=utf-8," + encodeURIComponent(toCsv(entry.spec.csv || { columns: [], rows: [] })), name + ".csv");
    }
  }

  // --- the page's furniture: download buttons and the data table ---------------------------------

  function addExports(container) {
    const bar = document.createElement("div");
    bar.className = "chart-exports";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", label(container, "download"));
    const lead = document.createElement("span");
    lead.className = "chart-exports-label";
    lead.textContent = label(container, "download");
    lead.setAttribute("aria-hidden", "true");
    bar.appendChild(lead);
    ["png", "svg", "csv"].forEach(function (kind) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "chart-export";
      button.dataset.export = kind;
      button.textContent = label(container, kind);
      button.addEventListener("click", function () { exportAs(container, kind); });
      bar.appendChild(button);
    });
    return bar;
  }

  function fillTable(entry, container) {
    const csv = entry.spec.csv || { columns: [], rows: [] };
    const table = document.createElement("table");
    const caption = document.createElement("caption");
    caption.className = "visually-hidden";
    caption.textContent = entry.spec.title || "";
    table.appendChild(caption);
    const head = table.createTHead().insertRow();
    (csv.columns || []).forEach(function (c) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = c;
      head.appendChild(th);
    });
    const body = table.createTBody();
    (csv.rows || []).forEach(function (row) {
      const tr = body.insertRow();
      row.forEach(function (v) { tr.insertCell().textContent = typeof v === "number" ? num(v) : (v === null || v === undefined ? "" : String(v)); });
    });
    entry.table.replaceChildren(table);
    entry.details.hidden = !(csv.rows || []).length;
    entry.summary.textContent = label(container, "table");
  }

  function resize(entry) {
    if (!entry || entry.chart.isDisposed()) return;
    const w = entry.canvas.clientWidth, h = entry.canvas.clientHeight;
    if (w && h && (w !== entry.chart.getWidth() || h !== entry.chart.getHeight())) entry.chart.resize();
  }
  let resizeFrame = 0;
  window.addEventListener("resize", function () {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(function () { charts.forEach(function (c) { resize(state.get(c)); }); });
  });

  /** Draw (or redraw) a spec in a container; returns the ECharts instance. */
  function render(container, spec) {
    if (!echarts) throw new Error("ChemCharts needs echarts.min.js loaded first");
    let entry = state.get(container);
    if (!entry) {
      let canvas = container.querySelector(".chart-canvas");
      if (!canvas) {
        canvas = document.createElement("div");
        canvas.className = "chart-canvas";
        container.appendChild(canvas);
      }
      container.classList.add("chem-chart");
      const height = spec.height || parseInt(container.getAttribute("data-height"), 10);
      if (height > 0) canvas.style.height = height + "px";
      canvas.setAttribute("role", "img");
      const exports = addExports(container);
      const details = document.createElement("details");
      details.className = "chart-table";
      const summary = document.createElement("summary");
      const table = document.createElement("div");
      table.className = "chart-table-scroll";
      details.append(summary, table);
      canvas.after(exports, details);
      const chart = echarts.init(canvas, null, { renderer: "svg", locale: echartsLocale() });
      entry = { chart: chart, canvas: canvas, exports: exports, details: details, summary: summary, table: table, spec: spec };
      state.set(container, entry);
      charts.add(container);
      if (window.ResizeObserver) {
        let frame = 0;
        entry.observer = new ResizeObserver(function () {
          cancelAnimationFrame(frame);
          frame = requestAnimationFrame(function () { resize(entry); });
        });
        entry.observer.observe(canvas);
      }
    }
    entry.spec = spec;
    entry.canvas.setAttribute("aria-label", spec.title || "");
    entry.chart.setOption(buildOption(spec, false), true);
    fillTable(entry, container);
    container.hidden = false;
    return entry.chart;
  }

  /** Remove a container's chart, buttons and table (its figcaption and canvas stay). */
  function clear(container) {
    const entry = state.get(container);
    if (!entry) return;
    if (entry.observer) entry.observer.disconnect();
    entry.chart.dispose();
    entry.exports.remove();
    entry.details.remove();
    entry.canvas.removeAttribute("aria-label");
    state.delete(container);
    charts.delete(container);
  }

  function renderAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(function (container) {
      const source = document.getElementById(container.getAttribute("data-chart"));
      if (source) render(container, JSON.parse(source.textContent));
    });
  }

  window.ChemCharts = {
    render: render,
    clear: clear,
    renderAll: renderAll,
    chartOf: function (container) { const e = state.get(container); return e ? e.chart : null; },
    toCsv: toCsv,
    normalQuantile: normalQuantile,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { renderAll(); });
  else renderAll();
})();
