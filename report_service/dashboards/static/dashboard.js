// Dashboard page: loads every widget's data from the widget data API and draws it with
// ECharts (SVG renderer), tables and figures as HTML; reloads them every refresh_seconds.
// Each widget element gets data-state = loading | ready | error (and data-rows) for tests.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const PALETTE = ["#2f6fde", "#19a974", "#f2a93b", "#e0555a", "#7a5af8", "#13a8c2", "#8c9bb5"];
  const charts = new Map();
  const courses = new Set();

  // --- formatting -----------------------------------------------------------------------------

  const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function duration(seconds) {
    const s = Math.round(seconds);
    if (Math.abs(s) < 60) return s + " s";
    if (Math.abs(s) < 3600) return Math.round(s / 60) + " min";
    if (Math.abs(s) < 86400) return decimal.format(s / 3600) + " h";
    return decimal.format(s / 86400) + " d";
  }

  function format(value, unit) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value !== "number") return String(value);
    switch (unit) {
      case "rate": return decimal.format(value * 100) + "%";
      case "money": return money.format(value);
      case "seconds": return duration(value);
      case "score": return decimal.format(value);
      case "count": return integer.format(value);
      default: return Number.isInteger(value) ? integer.format(value) : decimal.format(value);
    }
  }

  function axisFormatter(unit) {
    if (unit === "rate") return (v) => Math.round(v * 100) + "%";
    if (unit === "seconds") return (v) => duration(v);
    return (v) => (Math.abs(v) >= 10000 ? integer.format(v / 1000) + "k" : integer.format(v));
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // --- charts ---------------------------------------------------------------------------------

  function chartFor(container, key) {
    let chart = charts.get(key);
    if (chart && chart.getDom() !== container) {
      chart.dispose();
      chart = null;
    }
    if (!chart) {
      chart = echarts.init(container, null, { renderer: "svg" });
      charts.set(key, chart);
    }
    return chart;
  }

  const shortDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });

  const monthYear = new Intl.DateTimeFormat(undefined, { month: "short", year: "numeric", timeZone: "UTC" });

  function categoryText(value, time, name) {
    if (!time || typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}/.test(value)) return value;
    const day = new Date(value.slice(0, 10) + "T00:00:00Z");
    return (name === "month" ? monthYear : shortDate).format(day);
  }

  function cartesianOption(chart) {
    const kind = chart.kind;
    const time = chart.category.time;
    const categories = chart.categories.map((c) => categoryText(c, time, chart.category.name));
    const longest = Math.max(...categories.map((c) => String(c).length));
    const many = categories.length * Math.max(longest, 4) > 64;
    const unit = chart.series.length ? chart.series[0].unit : null;
    const showLabels = kind === "bar" && categories.length <= 12 && chart.series.length <= 2;
    return {
      color: PALETTE,
      animation: false,
      aria: { enabled: true },
      grid: { left: 12, right: 24, top: chart.series.length > 1 ? 32 : 20, bottom: 10, containLabel: true },
      legend: chart.series.length > 1 ? { top: 0, type: "scroll" } : undefined,
      tooltip: { trigger: "axis", confine: true },
      xAxis: {
        type: "category",
        data: categories,
        boundaryGap: kind === "bar",
        axisLabel: { interval: kind === "bar" ? 0 : "auto", rotate: many ? 30 : 0, width: 120, overflow: "truncate", hideOverlap: true },
      },
      yAxis: { type: "value", axisLabel: { formatter: axisFormatter(unit) } },
      series: chart.series.map((s) => ({
        name: s.label,
        type: kind === "bar" ? "bar" : "line",
        data: s.values,
        barMaxWidth: 48,
        showSymbol: categories.length <= 40,
        areaStyle: kind === "area" ? { opacity: 0.18 } : undefined,
        label: showLabels
          ? { show: true, position: "top", fontSize: 11, formatter: (p) => format(p.value, s.unit) }
          : undefined,
        tooltip: { valueFormatter: (v) => format(v, s.unit) },
      })),
    };
  }

  function pieOption(chart) {
    const s = chart.series[0];
    const values = new Map(chart.categories.map((name, i) => [name, s.values[i]]));
    return {
      color: PALETTE,
      animation: false,
      aria: { enabled: true },
      tooltip: { trigger: "item", confine: true, valueFormatter: (v) => format(v, s.unit) },
      legend: {
        type: "scroll",
        orient: "vertical",
        right: 0,
        top: "middle",
        formatter: (name) => name + "  " + format(values.get(name), s.unit),
        textStyle: { fontSize: 12 },
      },
      series: [{
        name: s.label,
        type: "pie",
        radius: ["42%", "72%"],
        center: ["30%", "52%"],
        label: { show: true, position: "inside", formatter: (p) => (p.percent >= 6 ? Math.round(p.percent) + "%" : ""), color: "#fff", fontSize: 11 },
        labelLine: { show: false },
        data: chart.categories.map((name, i) => ({ name, value: s.values[i] })),
      }],
    };
  }

  function drawChart(body, key, chart) {
    if (typeof echarts === "undefined") {
      throw new Error(config.library_problem || "The charting library did not load.");
    }
    let holder = body.querySelector(".chart");
    if (!holder) {
      body.replaceChildren();
      holder = el("div", "chart");
      body.appendChild(holder);
    }
    if (!chart.categories.length) {
      charts.get(key)?.dispose();
      charts.delete(key);
      body.replaceChildren(el("div", "placeholder", "No data for these filters."));
      return;
    }
    const instance = chartFor(holder, key);
    instance.setOption(chart.kind === "pie" ? pieOption(chart) : cartesianOption(chart), true);
  }

  function drawMetric(body, key, data) {
    const m = data.chart;
    const box = el("div", "metric");
    if (m.breakdown) {
      const row = el("div", "breakdown");
      for (const item of m.breakdown) {
        const cell = el("div");
        cell.appendChild(el("div", "value", format(item.value, m.unit)));
        cell.appendChild(el("div", "sub", item.label));
        row.appendChild(cell);
      }
      box.appendChild(row);
    } else {
      box.appendChild(el("div", "value", format(m.value, m.unit)));
    }
    if (m.trend && m.trend.change !== null) {
      const up = m.trend.change >= 0;
      const ratio = m.trend.change_ratio;
      const text = (up ? "▲ " : "▼ ") + format(Math.abs(m.trend.change), m.unit) +
        (ratio !== null ? " (" + (up ? "+" : "−") + decimal.format(Math.abs(ratio) * 100) + "%)" : "") +
        " vs previous";
      box.appendChild(el("div", "change " + (up ? "up" : "down"), text));
    }
    const sub = m.trend ? m.label + " · " + categoryText(m.trend.latest_at, true) : (m.note || m.label);
    box.appendChild(el("div", "sub", sub));
    body.replaceChildren(box);
    if (m.trend && m.trend.points.length > 1) {
      if (typeof echarts === "undefined") throw new Error(config.library_problem || "The charting library did not load.");
      const spark = el("div", "spark");
      box.appendChild(spark);
      charts.get(key)?.dispose();
      const chart = echarts.init(spark, null, { renderer: "svg" });
      charts.set(key, chart);
      chart.setOption({
        animation: false,
        color: PALETTE,
        grid: { left: 2, right: 2, top: 6, bottom: 2 },
        tooltip: { trigger: "axis", confine: true, valueFormatter: (v) => format(v, m.unit) },
        xAxis: { type: "category", show: false, data: m.trend.points.map((p) => p[0]), boundaryGap: false },
        yAxis: { type: "value", show: false, scale: true },
        series: [{ type: "line", data: m.trend.points.map((p) => p[1]), showSymbol: false, areaStyle: { opacity: 0.15 }, name: m.label }],
      });
    } else {
      charts.get(key)?.dispose();
      charts.delete(key);
    }
  }

  function drawTable(body, data) {
    const wrap = el("div", "table-wrap");
    const table = el("table", "data");
    const head = table.createTHead().insertRow();
    for (const column of data.columns) {
      const th = el("th", column.role === "metric" ? "num" : "", column.label);
      head.appendChild(th);
    }
    const tbody = table.createTBody();
    for (const row of data.rows) {
      const tr = tbody.insertRow();
      row.forEach((value, i) => {
        const column = data.columns[i];
        const td = tr.insertCell();
        td.textContent = column.role === "metric" ? format(value, column.unit) : (value ?? "—");
        if (column.role === "metric") td.className = "num";
      });
    }
    wrap.appendChild(table);
    body.replaceChildren(wrap);
  }

  // --- widgets --------------------------------------------------------------------------------

  function notes(footer, data) {
    footer.replaceChildren();
    for (const f of data.filters) {
      const note = el("span", "note" + (f.applied ? "" : " not-applied"),
        f.applied ? f.label + ": " + f.detail : f.label + " filter not applied: " + f.detail);
      footer.appendChild(note);
    }
    if (data.limit_reached) footer.appendChild(el("span", "note not-applied", "row limit reached: not all rows shown"));
    for (const [field, condition] of Object.entries(data.widget.filters || {})) {
      footer.appendChild(el("span", "note", field + ": " + JSON.stringify(condition)));
    }
    if (data.source.report_name) footer.appendChild(el("span", "note", "Report: " + data.source.report_name));
    const at = new Date(data.generated_at);
    footer.appendChild(el("span", "note", "data as of " + at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) +
      (data.cache.hit ? " (cached)" : "")));
  }

  function collectCourses(data) {
    const at = data.columns.findIndex((c) => c.name === "course_id");
    if (at < 0) return;
    for (const row of data.rows) if (row[at]) courses.add(row[at]);
  }

  function updateCourseOptions() {
    const list = document.getElementById("course-options");
    if (!list) return;
    list.replaceChildren(...[...courses].sort().map((c) => { const o = el("option"); o.value = c; return o; }));
  }

  async function load(widget) {
    const node = document.getElementById("widget-" + widget.id);
    const body = node.querySelector(".widget-body");
    const footer = node.querySelector(".widget-notes");
    try {
      const response = await fetch(widget.data_url, {
        credentials: "same-origin",
        cache: "no-cache",  // the server's cache decides how fresh: one place, one TTL
        headers: { Accept: "application/json" },
      });
      const data = await response.json().catch(() => ({ detail: "the server answered " + response.status }));
      if (!response.ok) {
        throw new Error(typeof data.detail === "string" ? data.detail : "the server answered " + response.status);
      }
      if (data.chart.kind === "table") drawTable(body, data);
      else if (data.chart.kind === "metric") drawMetric(body, widget.id, data);
      else drawChart(body, widget.id, data.chart);
      notes(footer, data);
      collectCourses(data);
      node.dataset.rows = String(data.rows.length);
      node.dataset.cache = data.cache.hit ? "hit" : "miss";
      node.dataset.state = "ready";
    } catch (error) {
      charts.get(widget.id)?.dispose();
      charts.delete(widget.id);
      body.replaceChildren(el("div", "error-text", "Cannot show this widget: " + error.message));
      node.dataset.state = "error";
    }
  }

  async function loadAll() {
    await Promise.all(config.widgets.map(load));
    updateCourseOptions();
    const updated = document.getElementById("updated");
    if (updated) updated.textContent = "Updated " + new Date().toLocaleTimeString();
    if (!document.body.dataset.firstDrawnMs) {
      document.body.dataset.firstDrawnMs = String(Math.round(performance.now()));  // since navigation start
    }
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  }

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => charts.forEach((chart) => chart.resize()), 120);
  });
  const shareInput = document.querySelector(".share input");
  if (shareInput) shareInput.addEventListener("focus", () => shareInput.select());

  loadAll();
  if (config.refresh_seconds > 0) setInterval(loadAll, config.refresh_seconds * 1000);
})();
