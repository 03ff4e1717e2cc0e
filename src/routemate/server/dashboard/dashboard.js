// routemate dashboard: reads GET /v1/stats (the object `routemate stats --json` prints) and draws
// plain SVG charts. No library, no network beyond this gateway: it works offline.
"use strict";

const COLORS = ["#3b6fd4", "#e08a2c", "#2e8b57", "#8e44ad", "#c0392b", "#16a2b8", "#7f8c8d", "#d35493"];
const NS = "http://www.w3.org/2000/svg";
const W = 520, H = 220, PAD = { l: 62, r: 12, t: 10, b: 28 };

function el(tag, attrs, parent, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function svg(id) {
  const box = document.getElementById(id);
  box.textContent = "";
  return el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }, box);
}

function empty(id, text) {
  const box = document.getElementById(id);
  box.innerHTML = "";
  const p = document.createElement("div");
  p.className = "empty";
  p.textContent = text;
  box.appendChild(p);
}

const usd = (x) => (x >= 1 ? "$" + x.toFixed(2) : x >= 0.001 ? "$" + x.toPrecision(3) : x > 0 ? "$" + x.toPrecision(2) : "$0");
const pct = (x) => (100 * x).toFixed(0) + "%";
const when = (t, bucket) => {
  const d = new Date(t * 1000);
  return bucket < 86400 ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleDateString([], { month: "short", day: "numeric" });
};

function axes(g, ymax, fmt) {
  for (let i = 0; i <= 4; i++) {
    const y = PAD.t + (H - PAD.t - PAD.b) * (1 - i / 4);
    el("line", { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, stroke: "#e3e6ec" }, g);
    el("text", { x: PAD.l - 6, y: y + 4, "text-anchor": "end" }, g, fmt((ymax * i) / 4));
  }
}

function xLabels(g, times, bucket, x) {
  const step = Math.max(1, Math.ceil(times.length / 6));
  times.forEach((t, i) => {
    if (i % step === 0) el("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, g, when(t, bucket));
  });
}

function legend(id, items) {
  const box = document.getElementById(id);
  box.innerHTML = "";
  for (const [color, text] of items) {
    const span = document.createElement("span");
    const dot = document.createElement("i");
    dot.style.background = color;
    span.appendChild(dot);
    span.appendChild(document.createTextNode(text));
    box.appendChild(span);
  }
}

function requestsChart(s) {
  const tl = s.timeline;
  if (!tl.length) return empty("requests", "no requests in this window yet");
  const models = s.models.map((m) => m.model);
  const color = (m) => COLORS[models.indexOf(m) % COLORS.length];
  const g = svg("requests");
  const ymax = Math.max(1, ...tl.map((b) => b.requests));
  axes(g, ymax, (v) => Math.round(v));
  const span = (W - PAD.l - PAD.r) / tl.length;
  const x = (i) => PAD.l + span * (i + 0.5);
  const scale = (H - PAD.t - PAD.b) / ymax;
  tl.forEach((b, i) => {
    let y = H - PAD.b;
    for (const m of models) {
      const n = b.models[m] || 0;
      if (!n) continue;
      el("rect", { x: x(i) - span * 0.4, y: y - n * scale, width: span * 0.8, height: n * scale, fill: color(m) }, g)
        .appendChild(el("title", {}, null, `${m}: ${n}`));
      y -= n * scale;
    }
  });
  xLabels(g, tl.map((b) => b.t), s.window.bucket_s, x);
  legend("shares", s.models.map((m) => [color(m.model), `${m.model} ${pct(m.share)} (${m.requests})`]));
}

function spendChart(s) {
  const tl = s.timeline;
  if (!tl.length) return empty("spend", "no spend in this window yet");
  let spent = 0, frontier = 0;
  const a = [], b = [];
  for (const p of tl) { spent += p.cost_usd; frontier += p.frontier_usd; a.push(spent); b.push(frontier); }
  const g = svg("spend");
  const ymax = Math.max(1e-6, ...b, ...a);
  axes(g, ymax, usd);
  const n = tl.length;
  const x = (i) => PAD.l + (n === 1 ? (W - PAD.l - PAD.r) / 2 : ((W - PAD.l - PAD.r) * i) / (n - 1));
  const y = (v) => H - PAD.b - ((H - PAD.t - PAD.b) * v) / ymax;
  const path = (vals) => vals.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  el("path", { d: path(b) + ` L${x(n - 1)},${y(0)} L${x(0)},${y(0)} Z`, fill: "#2e8b5722" }, g);
  el("path", { d: path(b), fill: "none", stroke: COLORS[2], "stroke-width": 2, "stroke-dasharray": "5 3" }, g);
  el("path", { d: path(a), fill: "none", stroke: COLORS[0], "stroke-width": 2.5 }, g);
  xLabels(g, tl.map((p) => p.t), s.window.bucket_s, x);
  legend("spend-legend", [[COLORS[0], `spent ${usd(spent)}`], [COLORS[2], `frontier model alone ${usd(frontier)}`],
    ["#2e8b5766", `saved ${usd(frontier - spent)} (${pct(frontier > 0 ? (frontier - spent) / frontier : 0)})`]]);
}

function hbars(id, rows, fmt, colorOf, emptyText) {
  if (!rows.length) return empty(id, emptyText);
  const g = svg(id);
  const rowH = Math.min(32, (H - 10) / rows.length);
  const max = Math.max(1e-9, ...rows.map((r) => r.value));
  const left = 230, right = 60;
  rows.forEach((r, i) => {
    const y = 5 + i * rowH;
    el("text", { x: left - 6, y: y + rowH * 0.62, "text-anchor": "end" }, g, r.label.length > 40 ? r.label.slice(0, 39) + "…" : r.label)
      .appendChild(el("title", {}, null, r.label));
    el("rect", { x: left, y: y + rowH * 0.15, width: Math.max(1, ((W - left - right) * r.value) / max), height: rowH * 0.7, fill: colorOf(r, i) }, g);
    el("text", { x: left + ((W - left - right) * r.value) / max + 4, y: y + rowH * 0.62 }, g, fmt(r));
  });
}

function escalationsChart(s) {
  const e = s.escalations;
  hbars("escalations", e.reasons.map((r) => ({ label: r.reason, value: r.count })), (r) => String(r.value),
    () => COLORS[1], `no escalations (${e.count} of ${s.window.requests} requests)`);
}

function verificationChart(s) {
  hbars("verification", s.verification.map((v) => ({ label: `${v.model} (${v.checked} checked)`, value: v.pass_rate })),
    (r) => pct(r.value), (r) => (r.value >= 0.5 ? COLORS[2] : COLORS[4]), "no checked answers yet");
}

function feedbackChart(s) {
  const f = s.feedback;
  const notes = document.getElementById("notes");
  notes.innerHTML = "";
  for (const r of f.recent.filter((r) => r.note).slice(0, 4)) {
    const li = document.createElement("li");
    li.textContent = `#${r.request_id} ${r.model || "-"} · ${r.rating}: ${r.note}`;
    notes.appendChild(li);
  }
  if (!f.by_model.length) return empty("feedback", "no feedback yet: routemate feedback ID good|bad, or POST /v1/feedback");
  const g = svg("feedback");
  const max = Math.max(1, ...f.by_model.map((m) => m.good + m.bad));
  const rowH = Math.min(32, (H - 10) / f.by_model.length), left = 150, right = 120;
  f.by_model.forEach((m, i) => {
    const y = 5 + i * rowH, k = (W - left - right) / max;
    el("text", { x: left - 6, y: y + rowH * 0.62, "text-anchor": "end" }, g, m.model);
    el("rect", { x: left, y: y + rowH * 0.15, width: m.good * k, height: rowH * 0.7, fill: COLORS[2] }, g);
    el("rect", { x: left + m.good * k, y: y + rowH * 0.15, width: m.bad * k, height: rowH * 0.7, fill: COLORS[4] }, g);
    el("text", { x: left + (m.good + m.bad) * k + 4, y: y + rowH * 0.62 }, g, `${m.good} good · ${m.bad} bad`);
  });
}

function versionsChart(s) {
  const r = s.router;
  const table = document.getElementById("version-table");
  table.innerHTML = "";
  const head = table.insertRow();
  for (const h of ["version", "labels", "AUC", "vs in use", "status"]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.appendChild(th);
  }
  for (const v of r.versions.slice(0, 6)) {
    const row = table.insertRow();
    const cells = [v.promoted ? `v${v.version}` : `(v${v.version})`, v.labels, v.quality == null ? "—" : v.quality.toFixed(3),
      v.baseline == null ? "—" : v.baseline.toFixed(3), v.in_use ? "in use" : v.promoted ? "promoted" : "not promoted"];
    for (const c of cells) row.insertCell().textContent = String(c);
  }
  const scored = r.versions.filter((v) => v.quality != null).slice().reverse();
  if (!scored.length) return empty("versions", `in use: ${r.in_use ? "learned v" + r.in_use : "the base router"} · ${r.labels} labels so far`);
  const g = svg("versions");
  axes(g, 1, (v) => v.toFixed(2));
  const n = scored.length;
  const x = (i) => PAD.l + (n === 1 ? (W - PAD.l - PAD.r) / 2 : ((W - PAD.l - PAD.r) * i) / (n - 1));
  const y = (v) => H - PAD.b - (H - PAD.t - PAD.b) * v;
  el("line", { x1: PAD.l, x2: W - PAD.r, y1: y(0.5), y2: y(0.5), stroke: "#c0392b55", "stroke-dasharray": "4 3" }, g);
  scored.forEach((v, i) => {
    el("line", { x1: x(i), x2: x(i), y1: y(v.baseline ?? v.quality), y2: y(v.quality), stroke: "#999" }, g);
    el("circle", { cx: x(i), cy: y(v.baseline ?? v.quality), r: 3, fill: "#999" }, g);
    el("circle", { cx: x(i), cy: y(v.quality), r: 5, fill: v.promoted ? COLORS[2] : "#fff", stroke: COLORS[2], "stroke-width": 2 }, g)
      .appendChild(el("title", {}, null, `v${v.version}: ${v.why}`));
    el("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, g, `v${v.version}`);
  });
}

function kpis(s) {
  const box = document.getElementById("kpis");
  box.innerHTML = "";
  const items = [
    [String(s.requests), `requests (${s.errors} errors)`],
    [usd(s.cost_usd), "spent"],
    [usd(s.frontier_usd), "frontier model alone"],
    [`${usd(s.saved_usd)} · ${pct(s.saved_share)}`, "saved"],
    [pct(s.escalations.share), `escalated (${s.escalations.count})`],
    [`${s.feedback.good} / ${s.feedback.bad}`, "feedback good / bad"],
    [s.router.in_use ? `learned v${s.router.in_use}` : "base", `router in use · ${s.router.labels} labels`],
  ];
  for (const [big, small] of items) {
    const d = document.createElement("div");
    d.className = "kpi";
    const b = document.createElement("b");
    b.textContent = big;
    const sp = document.createElement("span");
    sp.textContent = small;
    d.append(b, sp);
    box.appendChild(d);
  }
}

async function load() {
  const key = sessionStorage.getItem("routemate-key");
  const days = document.getElementById("days").value;
  const resp = await fetch(`/v1/stats?days=${days}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  if (resp.status === 401) {
    document.getElementById("main").hidden = true;
    document.getElementById("login").hidden = false;
    document.getElementById("login-error").textContent = key ? "that key was not accepted" : "";
    return;
  }
  const body = await resp.json();
  if (!resp.ok) {
    const err = document.getElementById("error");
    err.hidden = false;
    err.textContent = body.error ? body.error.message : `error ${resp.status}`;
    return;
  }
  document.getElementById("login").hidden = true;
  document.getElementById("main").hidden = false;
  document.getElementById("window").textContent = `last ${body.window.days} days · ${body.window.requests} requests`;
  kpis(body);
  requestsChart(body);
  spendChart(body);
  escalationsChart(body);
  verificationChart(body);
  feedbackChart(body);
  versionsChart(body);
  document.body.dataset.ready = "1";
}

document.getElementById("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("routemate-key", document.getElementById("key").value);
  load();
});
document.getElementById("days").addEventListener("change", load);
load();
// keep the figures current while the page is open and visible
setInterval(() => { if (!document.hidden && !document.getElementById("main").hidden) load().catch(() => {}); }, 30000);
