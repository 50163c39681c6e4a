/* PepperPy Cloud dashboard: plain ES2020, no build step, no network beyond this service.
 *
 * Every value from the API reaches the page through textContent or attributes set with
 * setAttribute (never innerHTML), so a SKU, a question or an error message cannot become markup.
 * Charts use Plotly when /vendor/plotly.min.js loaded, and a small SVG drawer otherwise.
 */
"use strict";

const KEY_STORAGE = "pepperpy-cloud.api-key";
const PROVIDERS = ["aws", "azure", "gcp"];
const PROVIDER_COLORS = { aws: "#d97706", azure: "#2563eb", gcp: "#16a34a" };
const METRICS = [
  ["cpu_usage", "CPU (% of one core)"],
  ["memory_usage", "Memory"],
  ["requests_per_second", "Requests per second"],
  ["response_time_p95", "Response time p95"],
];
const POLL_MS = 5000;

/* ------------------------------------------------------------------ DOM helpers */

function $(id) {
  return document.getElementById(id);
}

/** el("td", {class: "num", title: t}, child, "text") — children are nodes or text, never HTML. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

function setStatus(id, text, busy) {
  const node = $(id);
  node.textContent = text || "";
  node.classList.toggle("busy", Boolean(busy));
}

/* ------------------------------------------------------------------ formatting */

const USD = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

function isMissing(v) {
  return v === null || v === undefined || v === "";
}

/**
 * A monthly amount; missing means unknown, never $0. Decimal strings from the API are rounded to the cent
 * half-up on their digits (as the CLI does), not through a binary float.
 */
function money(v) {
  if (isMissing(v)) return "unknown";
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(String(v).trim());
  if (!m) {
    const n = Number(v);
    return Number.isFinite(n) ? USD.format(n) : String(v);
  }
  const frac = (m[3] || "").padEnd(3, "0");
  let cents = BigInt(m[2] + frac.slice(0, 2));
  if (frac[2] >= "5") cents += 1n;
  const whole = (cents / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const rest = (cents % 100n).toString().padStart(2, "0");
  return `${m[1] && cents ? "-" : ""}$${whole}.${rest}`;
}

/** Unit prices can be tiny ($0.0000166667 per GB-s): keep every published digit. */
function unitPrice(v) {
  if (isMissing(v)) return "unknown";
  const s = String(v);
  return s.startsWith("-") ? `-$${s.slice(1)}` : `$${s}`;
}

function num(v) {
  if (isMissing(v)) return "";
  const n = Number(v);
  return Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: 4 }) : String(v);
}

function bytes(v) {
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = n;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i += 1;
  }
  return `${x.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** One line naming the published figure behind a price row. */
function citation(row) {
  if (typeof row === "string") return row;
  if (!row || typeof row !== "object") return "";
  if (row.citation) return String(row.citation);
  const where = row.zone ? `${row.region}/${row.zone}` : row.region;
  const parts = [row.provider, row.sku, where, row.pricing_model,
    row.price !== undefined ? `${row.price} ${row.currency || "USD"}/${row.unit || ""}` : null,
    row.as_of ? `as of ${row.as_of}` : null, row.source ? `(${row.source})` : null];
  return parts.filter((p) => !isMissing(p)).join(" ");
}

/* ------------------------------------------------------------------ the API */

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    const message = err.message || (typeof body?.detail === "string" ? body.detail : null) || `HTTP ${status}`;
    super(message);
    this.status = status;
    this.type = err.type || "";
    this.field = err.field || "";
    this.hint = err.hint || "";
    this.requestId = (body && body.request_id) || "";
  }

  describe() {
    const where = this.field ? `${this.field}: ` : "";
    const hint = this.hint ? ` — ${this.hint}` : "";
    const rid = this.requestId ? ` (request ${this.requestId})` : "";
    return `${where}${this.message}${hint}${rid}`;
  }
}

function apiKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch (_e) {
    return "";
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { error: { message: "the service did not answer", hint: String(e.message || e) } });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (_e) {
      data = { error: { message: text.slice(0, 300) } };
    }
  }
  if (!response.ok) {
    const err = new ApiError(response.status, data);
    if (response.status === 401) askForKey(err.describe());
    throw err;
  }
  return data;
}

function describe(err) {
  return err instanceof ApiError ? err.describe() : String(err && err.message ? err.message : err);
}

function showError(statusId, err) {
  const node = $(statusId);
  node.textContent = `Error: ${describe(err)}`;
  node.classList.remove("busy");
  node.classList.add("error");
}

function resetStatus(statusId, text) {
  $(statusId).classList.remove("error");
  setStatus(statusId, text, true);
}

/* ------------------------------------------------------------------ API key dialog */

function updateKeyState() {
  const key = apiKey();
  $("key-state").textContent = key ? `API key ${key.split("_")[1] || "set"} in use` : "No API key";
}

function askForKey(message) {
  const dialog = $("key-dialog");
  $("key-error").textContent = message || "";
  $("key-input").value = "";
  if (!dialog.open) {
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
  }
  $("key-input").focus();
}

function setupKeyDialog() {
  $("key-form").addEventListener("submit", (event) => {
    const value = $("key-input").value.trim();
    if (!value) {
      event.preventDefault();
      $("key-error").textContent = "Enter the key that 'pepperpy-cloud keys create' printed.";
      return;
    }
    try {
      sessionStorage.setItem(KEY_STORAGE, value);
    } catch (_e) {
      /* storage disabled: the key lives only until reload */
    }
    $("key-error").textContent = "";
    updateKeyState();
    $("key-dialog").close?.();
    $("key-dialog").removeAttribute("open");
  });
  $("key-change").addEventListener("click", () => askForKey(""));
  updateKeyState();
  if (!apiKey()) askForKey("");
}

/* ------------------------------------------------------------------ tabs (WAI-ARIA tabs pattern) */

const tabHooks = {};

function selectTab(tab, focus) {
  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  for (const t of tabs) {
    const selected = t === tab;
    t.setAttribute("aria-selected", String(selected));
    t.tabIndex = selected ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !selected;
  }
  if (focus) tab.focus();
  const name = tab.id.replace("tab-", "");
  for (const [key, hook] of Object.entries(tabHooks)) hook(key === name);
  if (history.replaceState) history.replaceState(null, "", `#${name}`);
}

function setupTabs() {
  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab, false));
    tab.addEventListener("keydown", (event) => {
      const i = tabs.indexOf(tab);
      let next = null;
      if (event.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      else if (event.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (event.key === "Home") next = tabs[0];
      else if (event.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        event.preventDefault();
        selectTab(next, true);
      }
    });
  }
  const wanted = $(`tab-${location.hash.slice(1)}`);
  selectTab(wanted && wanted.getAttribute("role") === "tab" ? wanted : tabs[0], false);
}

/* ------------------------------------------------------------------ charts */

function hasPlotly() {
  return typeof window.Plotly === "object" && typeof window.Plotly.react === "function";
}

// No mode bar: its buttons would sit inside a role="img" element; the table beside each chart has the figures.
const PLOT_CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };

/**
 * Bars: labels[i] -> values[i] (numbers; null bars are drawn as absent). values are USD amounts.
 * horizontal: one row per label (long labels such as line items stay readable).
 */
function barChart(container, { labels, values, colors, title, yTitle, horizontal }) {
  container.classList.add("chart");
  container.setAttribute("role", "img");
  container.setAttribute("aria-label", `${title}: ${labels.map((l, i) => `${l} ${money(values[i])}`).join(", ")}`);
  if (hasPlotly()) {
    const text = values.map((v) => money(v));
    const trace = horizontal
      ? { type: "bar", orientation: "h", y: labels, x: values, hovertemplate: "%{y}: %{text}<extra></extra>" }
      : { type: "bar", x: labels, y: values, hovertemplate: "%{x}: %{text}<extra></extra>" };
    const valueAxis = { title: { text: yTitle || "" }, tickprefix: "$", rangemode: "tozero" };
    window.Plotly.react(container, [{ ...trace, marker: { color: colors }, text, textposition: "auto" }], {
      title: { text: title },
      height: horizontal ? Math.max(220, 90 + 26 * labels.length) : 320,
      margin: horizontal ? { t: 48, r: 24, b: 48, l: 260 } : { t: 48, r: 16, b: 64, l: 72 },
      ...(horizontal ? { xaxis: valueAxis, yaxis: { autorange: "reversed", automargin: true } } : { yaxis: valueAxis }),
    }, PLOT_CONFIG);
    return;
  }
  if (horizontal) svgHBars(container, labels, values, colors, title);
  else svgBars(container, labels, values, colors, title);
}

/** Time series: [{name, points: [[t, v], ...]}] with t in seconds (or ISO text). */
function lineChart(container, { series, title, unit }) {
  container.classList.add("chart");
  container.setAttribute("role", "img");
  container.setAttribute("aria-label", `${title} over time`);
  const fmtY = unit === "bytes" ? bytes : num;
  if (hasPlotly()) {
    const traces = series.map((s) => ({
      type: "scatter", mode: "lines", name: s.name,
      x: s.points.map((p) => toDate(p[0])), y: s.points.map((p) => (p[1] === null ? null : Number(p[1]))),
    }));
    const empty = !series.some((s) => s.points.some((p) => p[1] !== null));
    const suffix = { percent: "%", bytes: "B", seconds: "s" }[unit] || "";
    window.Plotly.react(container, traces, {
      title: { text: title }, height: 260, margin: { t: 40, r: 16, b: 40, l: 64 },
      showlegend: series.length > 1, yaxis: { rangemode: "tozero", ticksuffix: suffix },
      xaxis: { type: "date" },
      annotations: empty ? [{ text: "no samples yet", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] : [],
    }, PLOT_CONFIG);
    return;
  }
  svgLines(container, series, title, fmtY);
}

function toDate(t) {
  if (typeof t === "number") return new Date(t * 1000);
  return new Date(t);
}

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function svgFrame(container, title, width, height) {
  clear(container);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", class: "svg-chart" });
  root.append(svg("title", {}, title));
  root.append(svg("text", { x: width / 2, y: 20, "text-anchor": "middle", class: "svg-title" }, title));
  container.append(root);
  return root;
}

function svgBars(container, labels, values, colors, title) {
  const W = 640, H = 300, L = 80, B = 40, T = 36, R = 16;
  const root = svgFrame(container, title, W, H);
  const max = Math.max(1e-9, ...values.filter((v) => v !== null).map(Number));
  const band = (W - L - R) / Math.max(1, labels.length);
  root.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
  for (let k = 0; k <= 4; k += 1) {
    const y = H - B - ((H - B - T) * k) / 4;
    root.append(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end", class: "tick" }, money((max * k) / 4)));
  }
  labels.forEach((label, i) => {
    const x = L + i * band + band * 0.15;
    const v = values[i];
    const h = v === null ? 0 : ((H - B - T) * Number(v)) / max;
    const bar = svg("rect", { x, y: H - B - h, width: band * 0.7, height: Math.max(h, 0), fill: (colors && colors[i]) || "#64748b" });
    bar.append(svg("title", {}, `${label}: ${money(v)}`));
    root.append(bar);
    root.append(svg("text", { x: x + band * 0.35, y: H - B + 16, "text-anchor": "middle", class: "tick" }, label));
    root.append(svg("text", { x: x + band * 0.35, y: H - B - h - 6, "text-anchor": "middle", class: "value" }, money(v)));
  });
}

function svgHBars(container, labels, values, colors, title) {
  const rowH = 24, L = 250, R = 90, T = 36, B = 12, W = 760;
  const H = T + B + rowH * labels.length;
  const root = svgFrame(container, title, W, H);
  const max = Math.max(1e-9, ...values.filter((v) => v !== null).map(Number));
  root.append(svg("line", { x1: L, y1: T - 4, x2: L, y2: H - B, class: "axis" }));
  labels.forEach((label, i) => {
    const y = T + i * rowH;
    const v = values[i];
    const w = v === null ? 0 : ((W - L - R) * Number(v)) / max;
    const short = label.length > 40 ? `${label.slice(0, 39)}…` : label;
    root.append(svg("text", { x: L - 6, y: y + rowH * 0.65, "text-anchor": "end", class: "tick" }, short));
    const bar = svg("rect", { x: L, y: y + 3, width: Math.max(w, 0), height: rowH - 6, fill: (colors && colors[i]) || "#64748b" });
    bar.append(svg("title", {}, `${label}: ${money(v)}`));
    root.append(bar);
    root.append(svg("text", { x: L + w + 6, y: y + rowH * 0.65, class: "value" }, money(v)));
  });
}

function svgLines(container, series, title, fmtY) {
  const W = 640, H = 240, L = 72, B = 28, T = 32, R = 16;
  const root = svgFrame(container, title, W, H);
  const pts = series.flatMap((s) => s.points.filter((p) => p[1] !== null));
  if (!pts.length) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "tick" }, "no samples yet"));
    return;
  }
  const ts = pts.map((p) => toDate(p[0]).getTime());
  const t0 = Math.min(...ts), t1 = Math.max(...ts, t0 + 1);
  const vmax = Math.max(1e-9, ...pts.map((p) => Number(p[1])));
  const sx = (t) => L + ((W - L - R) * (toDate(t).getTime() - t0)) / (t1 - t0);
  const sy = (v) => H - B - ((H - B - T) * Number(v)) / vmax;
  root.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
  root.append(svg("text", { x: L - 6, y: T + 4, "text-anchor": "end", class: "tick" }, fmtY(vmax)));
  root.append(svg("text", { x: L - 6, y: H - B, "text-anchor": "end", class: "tick" }, fmtY(0)));
  const palette = ["#2563eb", "#d97706", "#16a34a", "#dc2626", "#7c3aed"];
  series.forEach((s, i) => {
    const d = s.points.filter((p) => p[1] !== null).map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    const path = svg("path", { d, fill: "none", stroke: palette[i % palette.length], "stroke-width": 2 });
    path.append(svg("title", {}, s.name));
    root.append(path);
  });
}

/* ------------------------------------------------------------------ tables */

/**
 * A table whose header buttons sort it. columns: [{key, label, numeric, render(row) -> Node|text, value(row)}].
 */
function sortableTable(columns, rows, { caption, id } = {}) {
  const table = el("table", { class: "data", id });
  if (caption) table.append(el("caption", { text: caption }));
  const headRow = el("tr");
  const tbody = el("tbody");
  let sortKey = null;
  let ascending = true;
  const valueOf = (col, row) => (col.value ? col.value(row) : row[col.key]);

  function draw() {
    clear(tbody);
    let ordered = rows.slice();
    if (sortKey) {
      const col = columns.find((c) => c.key === sortKey);
      ordered.sort((a, b) => {
        const va = valueOf(col, a), vb = valueOf(col, b);
        if (isMissing(va) && isMissing(vb)) return 0;
        if (isMissing(va)) return 1; // unknown sorts last either way
        if (isMissing(vb)) return -1;
        const cmp = col.numeric ? Number(va) - Number(vb) : String(va).localeCompare(String(vb));
        return ascending ? cmp : -cmp;
      });
    }
    for (const row of ordered) {
      tbody.append(el("tr", {}, columns.map((col) => el("td", { class: col.numeric ? "num" : null },
        col.render ? col.render(row) : (isMissing(row[col.key]) ? "" : String(row[col.key]))))));
    }
  }

  for (const col of columns) {
    const th = el("th", { scope: "col", "aria-sort": "none", class: col.numeric ? "num" : null });
    const button = el("button", { type: "button", class: "sort", "data-key": col.key }, col.label);
    button.addEventListener("click", () => {
      ascending = sortKey === col.key ? !ascending : true;
      sortKey = col.key;
      for (const other of headRow.children) other.setAttribute("aria-sort", "none");
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      draw();
    });
    th.append(button);
    headRow.append(th);
  }
  table.append(el("thead", {}, headRow), tbody);
  draw();
  return el("div", { class: "table-wrap" }, table);
}

/* ------------------------------------------------------------------ Estimate */

function normalizeEstimate(data) {
  const est = data && data.estimate ? data.estimate : data;
  const total = est.total ?? est.total_monthly ?? est.on_demand;
  const items = (est.items || []).map((i) => ({ ...i, monthly: isMissing(i.monthly) ? null : i.monthly }));
  return { provider: est.provider, region: est.region, total, items, warnings: est.warnings || [],
    unknown: est.unknown_items || items.filter((i) => i.monthly === null).map((i) => i.component) };
}

/** /v1/compare answers one row per provider; accept a list, {providers|rows|totals|estimates: ...} or a map. */
function normalizeCompare(data) {
  let rows = data;
  if (rows && !Array.isArray(rows)) {
    rows = rows.providers ?? rows.rows ?? rows.totals ?? rows.estimates ?? rows.compare ?? rows;
  }
  if (rows && !Array.isArray(rows) && typeof rows === "object") {
    rows = Object.entries(rows).map(([provider, v]) => (typeof v === "object" ? { provider, ...v } : { provider, total: v }));
  }
  return (rows || []).map((r) => ({
    provider: r.provider,
    region: r.region || "",
    total: r.on_demand ?? r.total ?? r.total_monthly ?? null,
    spot: r.spot ?? null,
    reserved_1y: r.reserved_1y ?? null,
    reserved_3y: r.reserved_3y ?? null,
    unpriced: r.unpriced ?? (r.unknown_items ? r.unknown_items.length : 0),
    cheapest: Boolean(r.cheapest),
  }));
}

function lineItemsTable(est) {
  const columns = [
    { key: "component", label: "Component" },
    { key: "service", label: "Service", render: (i) => i.managed_service ? `${i.service} (${i.managed_service})` : (i.service || "") },
    { key: "sku", label: "SKU", render: (i) => el("span", { title: (i.rows || []).map(citation).join("\n") || null }, i.sku || "") },
    { key: "quantity", label: "Quantity", numeric: true, render: (i) => `${num(i.quantity)} ${i.unit || ""}`.trim() },
    { key: "unit_price", label: "Unit price", numeric: true, render: (i) => unitPrice(i.unit_price) },
    { key: "monthly", label: "Monthly", numeric: true,
      render: (i) => el("span", { class: i.monthly === null ? "unknown" : null, "data-monthly": i.monthly ?? "unknown" }, money(i.monthly)) },
    { key: "source", label: "Catalog source", value: (i) => (i.rows || []).length, render: sourceCell },
  ];
  return sortableTable(columns, est.items, { caption: `${est.provider} ${est.region}: line items` });
}

function sourceCell(item) {
  const rows = item.rows || [];
  const note = item.note ? el("p", { class: "note" }, item.note) : null;
  if (!rows.length) return el("div", {}, el("span", { class: "muted" }, item.monthly === null ? "no catalog row" : "—"), note);
  const list = el("ul", { class: "citations" }, rows.map((r) => el("li", {}, citation(r))));
  const summary = el("summary", {}, rows.length === 1 ? "1 catalog row" : `${rows.length} catalog rows`);
  return el("div", {}, el("details", {}, summary, list), note);
}

function estimateSection(est) {
  const unknown = est.items.filter((i) => i.monthly === null).length;
  const section = el("section", { class: "card provider-card", "data-provider": est.provider,
    "aria-label": `${est.provider} estimate` });
  section.append(el("h3", {}, `${est.provider.toUpperCase()} · ${est.region}`));
  section.append(el("p", { class: "total" }, "Monthly total ",
    el("strong", { class: "estimate-total", "data-total": est.total ?? "" }, money(est.total)),
    unknown ? el("span", { class: "unknown" }, ` + ${unknown} unpriced line${unknown > 1 ? "s" : ""} (unknown, not $0)`) : null));
  const priced = est.items.filter((i) => i.monthly !== null).sort((a, b) => Number(b.monthly) - Number(a.monthly));
  if (priced.length) {
    const chart = el("div", { class: "line-chart", id: `chart-items-${est.provider}` });
    section.append(chart);
    queueMicrotask(() => barChart(chart, {
      labels: priced.map((i) => `${i.component}${i.sku ? ` · ${i.sku}` : ""}`),
      values: priced.map((i) => Number(i.monthly)),
      colors: priced.map(() => PROVIDER_COLORS[est.provider] || "#64748b"),
      title: `${est.provider.toUpperCase()}: monthly cost per priced line`, yTitle: "USD / month", horizontal: true,
    }));
  }
  section.append(lineItemsTable(est));
  for (const w of est.warnings) section.append(el("p", { class: "warning" }, w));
  return section;
}

function compareSection(rows) {
  const section = el("section", { class: "card", "aria-label": "Totals by provider" });
  section.append(el("h3", {}, "Totals by provider"));
  const chart = el("div", { id: "chart-compare" });
  section.append(chart);
  const columns = [
    { key: "provider", label: "Provider" },
    { key: "region", label: "Region" },
    { key: "total", label: "On-demand", numeric: true,
      render: (r) => el("span", { class: "compare-total", "data-provider": r.provider, "data-total": r.total ?? "" }, money(r.total)) },
    { key: "spot", label: "With spot", numeric: true, render: (r) => (isMissing(r.spot) ? "—" : money(r.spot)) },
    { key: "reserved_1y", label: "1y reserved", numeric: true, render: (r) => (isMissing(r.reserved_1y) ? "—" : money(r.reserved_1y)) },
    { key: "reserved_3y", label: "3y reserved", numeric: true, render: (r) => (isMissing(r.reserved_3y) ? "—" : money(r.reserved_3y)) },
    { key: "unpriced", label: "Unpriced lines", numeric: true },
    { key: "cheapest", label: "Cheapest", value: (r) => (r.cheapest ? 0 : 1), render: (r) => (r.cheapest ? el("span", { class: "badge" }, "cheapest") : "") },
  ];
  section.append(sortableTable(columns, rows, { caption: "Monthly totals; unpriced lines are not counted as $0", id: "compare-table" }));
  queueMicrotask(() => barChart(chart, {
    labels: rows.map((r) => `${r.provider} ${r.region}`.trim()),
    values: rows.map((r) => (isMissing(r.total) ? null : Number(r.total))),
    colors: rows.map((r) => PROVIDER_COLORS[r.provider] || "#64748b"),
    title: "Monthly on-demand total by provider", yTitle: "USD / month",
  }));
  return section;
}

function setupEstimate() {
  $("stack-file").addEventListener("change", async (event) => {
    const file = event.target.files && event.target.files[0];
    if (!file) return;
    if (file.size > 256 * 1024) {
      showError("estimate-status", new Error(`${file.name} is larger than 256 KB`));
      return;
    }
    $("stack-text").value = await file.text();
    setStatus("estimate-status", `Loaded ${file.name}`);
  });
  $("estimate-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const stack = $("stack-text").value;
    const provider = $("estimate-provider").value;
    const region = $("estimate-region").value.trim();
    const out = clear($("estimate-result"));
    const button = $("estimate-submit");
    button.disabled = true;
    resetStatus("estimate-status", "Pricing…");
    try {
      if (provider === "all") {
        const [compared, ...estimates] = await Promise.all([
          api("POST", "/v1/compare", { stack }),
          ...PROVIDERS.map((p) => api("POST", "/v1/estimate", { stack, provider: p })),
        ]);
        out.append(compareSection(normalizeCompare(compared)));
        for (const e of estimates) out.append(estimateSection(normalizeEstimate(e)));
      } else {
        const body = { stack, provider };
        if (region) body.region = region;
        out.append(estimateSection(normalizeEstimate(await api("POST", "/v1/estimate", body))));
      }
      setStatus("estimate-status", "Done. Hover a SKU or open “catalog rows” to see the published price behind a line.");
    } catch (err) {
      showError("estimate-status", err);
    } finally {
      button.disabled = false;
    }
  });
}

/* ------------------------------------------------------------------ Instances */

function setupInstances() {
  $("instances-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const name of ["vcpus", "memory", "gpu", "gpu_memory", "gpu_count", "provider", "region", "limit"]) {
      const value = $("instances-form").elements[name].value.trim();
      if (value !== "" && !(name === "gpu_count" && Number(value) === 0)) params.set(name, value);
    }
    if ($("inst-spot").checked) params.set("spot", "true");
    const out = clear($("instances-result"));
    resetStatus("instances-status", "Searching…");
    $("instances-submit").disabled = true;
    try {
      const data = await api("GET", `/v1/instances?${params}`);
      let rows = Array.isArray(data) ? data : (data.rows || data.instances || data.items || []);
      const minGpus = Number(params.get("gpu_count") || 0);
      if (minGpus) rows = rows.filter((r) => Number(r.gpu_count || 0) >= minGpus);
      setStatus("instances-status", `${rows.length} instance${rows.length === 1 ? "" : "s"}, cheapest first; click a heading to sort.`);
      out.append(sortableTable([
        { key: "provider", label: "Provider" },
        { key: "sku", label: "Instance", render: (r) => el("span", { title: citation(r) }, r.sku || r.instance_type || "") },
        { key: "region", label: "Region", render: (r) => (r.zone ? `${r.region}/${r.zone}` : r.region || "") },
        { key: "vcpus", label: "vCPUs", numeric: true, render: (r) => num(r.vcpus) },
        { key: "memory_gib", label: "Memory (GiB)", numeric: true, render: (r) => num(r.memory_gib) },
        { key: "gpu_count", label: "GPUs", numeric: true, render: (r) => (Number(r.gpu_count) ? `${r.gpu_count} × ${r.gpu_model}` : "") },
        { key: "gpu_memory_gib", label: "GPU memory (GiB)", numeric: true, render: (r) => (Number(r.gpu_count) ? num(r.gpu_memory_gib) : "") },
        { key: "pricing_model", label: "Pricing" },
        { key: "price", label: "$/hour", numeric: true, render: (r) => unitPrice(r.price) },
        { key: "monthly", label: "$/month", numeric: true, render: (r) => money(r.monthly) },
        { key: "as_of", label: "As of", render: (r) => el("span", { title: r.source || null }, r.as_of || "") },
      ], rows, { caption: "Instances that fit", id: "instances-table" }));
    } catch (err) {
      showError("instances-status", err);
    } finally {
      $("instances-submit").disabled = false;
    }
  });
}

/* ------------------------------------------------------------------ Ask */

function setupAsk() {
  $("ask-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = $("ask-question").value.trim();
    if (!question) return;
    const out = clear($("ask-result"));
    resetStatus("ask-status", "Thinking…");
    $("ask-submit").disabled = true;
    try {
      const a = await api("POST", "/v1/ask", { question });
      setStatus("ask-status", a.unknown ? "The catalog could not answer this one." : "Answered from the catalog.");
      const card = el("article", { class: "card answer", "aria-label": "Answer" });
      card.append(el("h3", {}, "Answer"));
      card.append(el("p", { class: a.unknown ? "answer-text unknown" : "answer-text", id: "answer-text" }, a.text || a.answer || ""));
      const table = a.table;
      if (table && Array.isArray(table.columns) && Array.isArray(table.rows) && table.rows.length) {
        const columns = table.columns.map((c, idx) => ({
          key: String(idx), label: String(c),
          numeric: table.rows.every((r) => isMissing(r[idx]) || Number.isFinite(Number(r[idx]))),
          value: (r) => r[idx],
          render: (r) => (isMissing(r[idx]) ? "" : String(r[idx])),
        }));
        card.append(sortableTable(columns, table.rows, { caption: "Figures", id: "answer-table" }));
      }
      const cites = a.citations || [];
      card.append(el("h4", {}, "Citations"));
      card.append(cites.length
        ? el("ol", { class: "citations", id: "answer-citations" }, cites.map((c) => el("li", {}, citation(c))))
        : el("p", { class: "muted" }, "none"));
      const meta = el("dl", { class: "meta" });
      meta.append(el("dt", {}, "Tools used"), el("dd", { id: "answer-tools" }, (a.tools_used || []).join(", ") || "none"));
      if (a.source) meta.append(el("dt", {}, "Answered by"), el("dd", {}, String(a.source)));
      card.append(meta);
      out.append(card);
    } catch (err) {
      showError("ask-status", err);
    } finally {
      $("ask-submit").disabled = false;
    }
  });
  $("ask-question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("ask-form").requestSubmit();
  });
}

/* ------------------------------------------------------------------ Deployments */

let pollTimer = null;
let selectedDeployment = null;
let deploymentsVisible = false;

function stopPolling() {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
}

function schedulePoll() {
  stopPolling();
  if (deploymentsVisible && selectedDeployment && !document.hidden) {
    pollTimer = setTimeout(() => refreshMetrics(selectedDeployment), POLL_MS);
  }
}

let deploymentsRequest = 0;

/** Fetch and draw the list; ``note`` (e.g. "web scaled to 2 replicas.") is shown instead of the count. */
async function loadDeployments(note) {
  const mine = ++deploymentsRequest; // only the latest answer is drawn
  resetStatus("deployments-status", "Loading…");
  try {
    const data = await api("GET", "/v1/deployments");
    if (mine !== deploymentsRequest) return;
    const out = clear($("deployments-result"));
    const rows = Array.isArray(data) ? data : (data.deployments || data.items || []);
    const count = rows.length ? `${rows.length} deployment${rows.length === 1 ? "" : "s"}` : "No deployments yet. Start one with 'pepperpy-cloud up'.";
    setStatus("deployments-status", typeof note === "string" && note ? note : count);
    if (!rows.length) return;
    out.append(sortableTable([
      { key: "name", label: "Name", render: (d) => el("button", { type: "button", class: "link", "data-deployment": d.name,
        onclick: () => openDeployment(d.name) }, d.name) },
      ...(rows.some((d) => d.provider) ? [{ key: "provider", label: "Provider" }] : []),
      { key: "status", label: "Status", render: (d) => el("span", { class: `status-pill ${statusClass(d.status)}` }, d.status || "unknown") },
      { key: "replicas", label: "Replicas", numeric: true, value: replicaCount, render: (d) => replicaText(d) },
      { key: "url", label: "URL", render: (d) => (d.url || d.endpoint || "") },
      { key: "revision", label: "Revision", numeric: true },
    ], rows, { caption: "Deployments", id: "deployments-table" }));
    if (selectedDeployment && rows.some((d) => d.name === selectedDeployment)) openDeployment(selectedDeployment);
  } catch (err) {
    if (mine === deploymentsRequest) showError("deployments-status", err);
  }
}

function statusClass(status) {
  const s = String(status || "").toLowerCase();
  if (["running", "healthy", "ready", "up", "active"].includes(s)) return "ok";
  if (["failed", "error", "unhealthy", "fatal", "backoff", "exited", "missing"].includes(s)) return "bad";
  return "neutral";
}

function replicaCount(d) {
  const r = d.replicas;
  if (Array.isArray(r)) return r.length;
  if (r && typeof r === "object") return r.running ?? r.desired ?? r.current ?? null;
  return r ?? null;
}

function replicaText(d) {
  const r = d.replicas;
  if (Array.isArray(r)) {
    const running = r.filter((x) => String(x.state || "").toUpperCase() === "RUNNING").length;
    return `${r.length} replica${r.length === 1 ? "" : "s"}, ${running} running`;
  }
  if (r && typeof r === "object") {
    const parts = [];
    if (!isMissing(r.running)) parts.push(`${r.running} running`);
    if (!isMissing(r.desired)) parts.push(`${r.desired} desired`);
    if (!isMissing(r.min) || !isMissing(r.max)) parts.push(`min ${r.min ?? "?"} / max ${r.max ?? "?"}`);
    return parts.join(", ");
  }
  return isMissing(r) ? "" : String(r);
}

async function openDeployment(name) {
  selectedDeployment = name;
  const out = clear($("deployment-detail"));
  const card = el("section", { class: "card", "aria-label": `Deployment ${name}`, id: "deployment-card" });
  card.append(el("h3", {}, `Deployment ${name}`));
  out.append(card);
  try {
    const d = await api("GET", `/v1/deployments/${encodeURIComponent(name)}`);
    if (!card.isConnected) return; // a newer openDeployment replaced this card
    const info = el("dl", { class: "meta" });
    const lb = d.load_balancer && typeof d.load_balancer === "object" ? d.load_balancer : null;
    for (const [label, value] of [["Status", d.status], ["Provider", d.provider], ["Replicas", replicaText(d)],
      ["URL", d.url || d.endpoint], ["Revision", d.revision], ["Load balancer", lb ? (lb.state || lb.status) : null]]) {
      if (!isMissing(value)) info.append(el("dt", {}, label), el("dd", {}, String(value)));
    }
    card.append(info);
    if (Array.isArray(d.replicas) && d.replicas.length) {
      card.append(sortableTable([
        { key: "replica", label: "Replica", numeric: true },
        { key: "state", label: "State", render: (r) => el("span", { class: `status-pill ${statusClass(r.state)}` }, r.state || "") },
        { key: "port", label: "Port", numeric: true },
        { key: "pid", label: "PID", numeric: true },
      ], d.replicas, { caption: "Replicas", id: "replicas-table" }));
    }
    if (Array.isArray(d.events) && d.events.length) {
      card.append(el("details", {}, el("summary", {}, `Recent events (${d.events.length})`),
        el("ul", { class: "citations" }, d.events.map((e) => el("li", {}, `${e.kind || ""}: ${e.message || ""}`)))));
    }
    const form = el("form", { class: "row scale", id: "scale-form" });
    const input = el("input", { id: "scale-replicas", type: "number", min: 0, step: 1, required: true,
      value: replicaCount(d) ?? 1 });
    form.append(el("div", { class: "field" }, el("label", { for: "scale-replicas" }, "Replicas"), input),
      el("div", { class: "field end" }, el("button", { type: "submit", id: "scale-submit" }, "Scale")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      resetStatus("deployments-status", `Scaling ${name} to ${input.value}…`);
      try {
        await api("POST", `/v1/deployments/${encodeURIComponent(name)}/scale`, { replicas: Number(input.value) });
        loadDeployments(`${name} scaled to ${input.value} replicas.`);
      } catch (err) {
        showError("deployments-status", err);
      }
    });
    card.append(form);
  } catch (err) {
    card.append(el("p", { class: "error", role: "alert" }, describe(err)));
  }
  const grid = el("div", { class: "metrics-grid", id: "metrics-grid" });
  for (const [metric] of METRICS) grid.append(el("div", { class: "metric-chart", id: `metric-${metric}` }));
  card.append(el("h4", {}, "Live metrics (last hour, refreshed every 5 s)"), grid,
    el("p", { class: "muted", id: "metrics-source" }));
  refreshMetrics(name);
}

async function refreshMetrics(name) {
  if (name !== selectedDeployment) return;
  const params = new URLSearchParams();
  for (const [metric] of METRICS) params.append("metric", metric); // repeatable, see docs/service-api.md
  params.set("since", "1h");
  try {
    const data = await api("GET", `/v1/metrics/${encodeURIComponent(name)}?${params}`);
    if (name !== selectedDeployment) return;
    const byMetric = {};
    for (const s of data.series || []) (byMetric[s.metric] ||= []).push(s);
    for (const [metric, title] of METRICS) {
      const node = $(`metric-${metric}`);
      if (!node) continue;
      const series = (byMetric[metric] || []).map((s) => ({
        name: Object.entries(s.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ") || metric,
        points: s.points || [],
      }));
      const unit = (byMetric[metric] && byMetric[metric][0] && byMetric[metric][0].unit) || "";
      lineChart(node, { series: series.length ? series : [{ name: metric, points: [] }], title, unit });
    }
    $("metrics-source").textContent = `Source: ${data.source || "unknown"} · updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    const node = $("metrics-source");
    if (node) node.textContent = `Metrics unavailable: ${describe(err)}`;
  }
  schedulePoll();
}

function setupDeployments() {
  $("deployments-refresh").addEventListener("click", () => loadDeployments());
  let loaded = false;
  tabHooks.deployments = (visible) => {
    deploymentsVisible = visible;
    if (visible && !loaded && apiKey()) {
      loaded = true;
      loadDeployments();
    }
    if (visible && selectedDeployment) refreshMetrics(selectedDeployment);
    else stopPolling();
  };
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stopPolling();
    else if (deploymentsVisible && selectedDeployment) refreshMetrics(selectedDeployment);
  });
}

/* ------------------------------------------------------------------ start */

document.addEventListener("DOMContentLoaded", () => {
  setupKeyDialog();
  setupEstimate();
  setupInstances();
  setupAsk();
  setupDeployments();
  setupTabs();
  document.body.dataset.ready = "true";
});
