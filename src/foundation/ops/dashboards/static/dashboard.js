// Live dashboard: panels come from /panels.json (defined once in Python), data from Prometheus
// query_range proxied by our server (same origin, no CDN, no external script). `?dashboard=<slug>` picks
// one of the dashboards the server knows (panels.json lists them; the header links to each).
"use strict";
const COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a"];
const SVGNS = "http://www.w3.org/2000/svg";
let config = null;

function el(tag, attrs, parent) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function legend(template, labels) {
  let out = template.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, key) => (key in labels ? labels[key] : m));
  if (out.includes("{{")) {
    out = out.split("{{")[0].trim() || Object.entries(labels).map(([k, v]) => k + "=" + v).join(",") || "value";
  }
  return out || "value";
}

function fmt(value, unit) {
  if (!isFinite(value)) return "–";
  const abs = Math.abs(value);
  let s = abs >= 100 ? value.toFixed(0) : abs >= 1 ? value.toFixed(2) : value.toPrecision(2);
  if (abs === 0) s = "0";
  return s + ({ reqps: " r/s", percent: "%", s: " s", m: " min" }[unit] || "");
}

function buildPanels() {
  const root = document.getElementById("panels");
  root.innerHTML = "";
  for (const panel of config.panels) {
    const card = document.createElement("section");
    card.className = "panel";
    card.id = "panel-" + panel.id;
    card.dataset.slug = panel.slug;
    card.dataset.points = "0";
    card.dataset.series = "0";
    card.dataset.state = "loading";
    card.style.gridColumn = "span " + panel.width;
    card.innerHTML = "<h2></h2><div class='info'></div><svg viewBox='0 0 600 220' preserveAspectRatio='none'></svg><div class='legend'></div>";
    card.querySelector("h2").textContent = panel.title;
    card.querySelector(".info").textContent = panel.description || "";
    root.appendChild(card);
  }
}

async function fetchSeries(expr, start, end, step) {
  const params = new URLSearchParams({ query: expr, start: String(start), end: String(end), step: String(step) });
  const response = await fetch("api/v1/query_range?" + params.toString());
  const body = await response.json();
  if (body.status !== "success") throw new Error(body.error || "query failed");
  return body.data.result;
}

function draw(card, panel, series, start, end) {
  const svg = card.querySelector("svg");
  const legendBox = card.querySelector(".legend");
  svg.innerHTML = "";
  legendBox.innerHTML = "";
  const W = panel.width >= 24 ? 1200 : 600, H = 220, L = 48, R = 8, T = 8, B = 20;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  let max = 0, points = 0;
  for (const s of series) for (const [, v] of s.points) max = Math.max(max, v);
  if (max <= 0) max = 1;
  max *= 1.1;
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * (1 - i / 4);
    el("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }, svg);
    el("text", { x: 2, y: y + 3 }, svg).textContent = fmt((max * i) / 4, panel.unit);
  }
  el("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }, svg);
  for (let i = 0; i <= 3; i++) {
    const t = start + ((end - start) * i) / 3;
    const label = new Date(t * 1000).toLocaleTimeString();
    el("text", { x: L + ((W - L - R) * i) / 3 - (i === 3 ? 50 : 0), y: H - 4 }, svg).textContent = label;
  }
  const sx = (t) => L + ((t - start) / (end - start)) * (W - L - R);
  const sy = (v) => T + (H - T - B) * (1 - v / max);
  series.forEach((s, idx) => {
    const color = COLORS[idx % COLORS.length];
    const pts = s.points.map(([t, v]) => sx(t).toFixed(1) + "," + sy(v).toFixed(1)).join(" ");
    if (s.points.length === 1) {
      const [t, v] = s.points[0];
      el("circle", { cx: sx(t), cy: sy(v), r: 3, fill: color }, svg);
    } else {
      el("polyline", { points: pts, fill: "none", stroke: color, "stroke-width": 2 }, svg);
    }
    points += s.points.length;
    if (idx >= 12) {
      if (idx === 12) {
        const more = document.createElement("em");
        more.textContent = "+" + (series.length - 12) + " more";
        legendBox.appendChild(more);
      }
      return;
    }
    const item = document.createElement("span");
    item.style.setProperty("--c", color);
    const last = s.points.length ? s.points[s.points.length - 1][1] : NaN;
    item.textContent = s.name + " (" + fmt(last, panel.unit) + ")";
    legendBox.appendChild(item);
  });
  if (!points) {
    const t = el("text", { x: W / 2 - 30, y: H / 2, class: "nodata" }, svg);
    t.textContent = "no data";
  }
  card.dataset.points = String(points);
  card.dataset.series = String(series.length);
  card.dataset.state = points ? "data" : "empty";
}

async function refresh() {
  const range = Number(document.getElementById("range").value);
  const end = Date.now() / 1000;
  const start = end - range;
  const step = Math.max(1, Math.round(range / 240));
  let errors = 0;
  await Promise.all(
    config.panels.map(async (panel) => {
      const card = document.getElementById("panel-" + panel.id);
      try {
        const series = [];
        for (const target of panel.targets) {
          const result = await fetchSeries(target.expr, start, end, step);
          for (const item of result) {
            const pts = item.values.map(([t, v]) => [Number(t), Number(v)]).filter(([, v]) => isFinite(v));
            series.push({ name: legend(target.legend, item.metric || {}), points: pts });
          }
        }
        draw(card, panel, series, start, end);
      } catch (err) {
        errors += 1;
        card.dataset.state = "error";
        card.querySelector(".info").textContent = "error: " + err.message;
      }
    })
  );
  document.getElementById("status").textContent =
    "updated " + new Date().toLocaleTimeString() + (errors ? " — " + errors + " panel error(s)" : "");
  document.body.dataset.ready = "true";
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || "0") + 1);
}

function buildNav() {
  const nav = document.getElementById("dashboards");
  nav.innerHTML = "";
  for (const board of config.dashboards || []) {
    const link = document.createElement("a");
    link.href = board.url;
    link.textContent = board.title;
    link.dataset.slug = board.slug;
    if (board.slug === config.slug) link.setAttribute("aria-current", "page");
    nav.appendChild(link);
  }
}

async function main() {
  const wanted = new URLSearchParams(window.location.search).get("dashboard");
  const response = await fetch("panels.json" + (wanted ? "?dashboard=" + encodeURIComponent(wanted) : ""));
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || "panels.json answered " + response.status);
  config = body;
  document.getElementById("title").textContent = config.title;
  document.title = config.title;
  document.body.dataset.dashboard = config.slug;
  buildNav();
  buildPanels();
  document.getElementById("range").addEventListener("change", refresh);
  await refresh();
  setInterval(refresh, (config.refreshSeconds || 5) * 1000);
}

main().catch((err) => {
  document.getElementById("status").textContent = "error: " + err.message;
  document.body.dataset.ready = "error";
});
