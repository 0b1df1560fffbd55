// The iit-node dashboard page. Every figure arrives as the node's decimal string and is
// rendered by string arithmetic (exact): no balance goes through a float. Only the chart
// coordinates are floats, which is what drawing needs.
"use strict";

const WAD = 18;
const TOKEN_DECIMALS = 18;
const REFRESH_MS = 2000;
const MAX_TAIL_ROWS = 300;
const MAX_POINTS = 10000;

// --- exact decimal strings -------------------------------------------------------------

// "1234500000" with 6 decimals -> "1,234.5": every significant digit, thousands grouped.
function exact(raw, decimals) {
  if (raw === undefined || raw === null || raw === "") return "–";
  let digits = String(raw);
  const negative = digits.startsWith("-");
  if (negative) digits = digits.slice(1);
  if (!/^\d+$/.test(digits)) return String(raw);
  digits = digits.replace(/^0+(?=\d)/, "");
  let whole = digits;
  let fraction = "";
  if (decimals > 0) {
    digits = digits.padStart(decimals + 1, "0");
    whole = digits.slice(0, digits.length - decimals);
    fraction = digits.slice(digits.length - decimals).replace(/0+$/, "");
  }
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const text = grouped + (fraction ? "." + fraction : "");
  return negative && text !== "0" ? "-" + text : text;
}

// |x| of a decimal string, still a string.
function magnitude(raw) {
  return raw && raw.startsWith("-") ? raw.slice(1) : raw;
}

// For drawing only: a WAD string as a float.
function plotValue(raw, decimals) {
  if (!raw) return null;
  return Number(raw) / 10 ** decimals;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const past = seconds < 0;
  let s = Math.abs(seconds);
  const parts = [];
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) parts.push(d + " d");
  if (h) parts.push(h + " h");
  if (m && !d) parts.push(m + " min");
  if (!d && !h) parts.push(s + " s");
  return (past ? "-" : "") + parts.slice(0, 2).join(" ");
}

// --- state -----------------------------------------------------------------------------

const cards = new Map();   // product_id -> {el, product, chart, levChart, nav}
let lastShown = 0;         // the last event position on the page: never shown twice
let nodeConnected = false;
let refreshTimer = null;
let refreshing = false;
let refreshAgain = false;
let settled = false;       // after the first replay of the tail, new rows flash
setTimeout(() => { settled = true; }, 2000);

function $(selector, root) { return (root || document).querySelector(selector); }

function setNodeStatus(state, text) {
  const el = $("#node-status");
  el.dataset.state = state;
  $(".text", el).textContent = text;
}

// --- product cards ---------------------------------------------------------------------

function cardFor(product) {
  let card = cards.get(product.product_id);
  if (card) return card;
  const el = $("#card-template").content.firstElementChild.cloneNode(true);
  el.dataset.product = product.product_id;
  $(".pid", el).textContent = product.product_id;
  $("#products").appendChild(el);
  $("#no-products").hidden = true;
  card = { el, product, nav: { after: 0, xs: [], navs: [], index: [], lev: [], count: 0 }, chart: null, levChart: null };
  cards.set(product.product_id, card);
  return card;
}

function setField(el, name, text, title) {
  const target = $(`[data-field="${name}"]`, el);
  target.textContent = text;
  if (title !== undefined) target.title = title;
}

function renderCard(product) {
  const card = cardFor(product);
  card.product = product;
  const el = card.el;
  el.dataset.status = product.status;
  el.classList.remove("stale");
  $(".status", el).textContent = product.status;
  $(".version", el).textContent = `v${product.version}`;
  const collateral = product.collateral_decimals;
  setField(el, "index_price", exact(product.index_price, WAD), product.index_price + " (WAD)");
  setField(el, "nav_per_token", exact(product.nav_per_token, WAD), product.nav_per_token + " (WAD)");
  setField(el, "leverage", product.leverage ? exact(product.leverage, WAD) + "×" : "undefined", product.leverage);
  setField(el, "band",
    `band ${exact(product.band_low, WAD)}–${exact(product.band_high, WAD)} · ripcord ${exact(product.ripcord_leverage, WAD)} · target ${exact(product.target_leverage, WAD)}`);
  setField(el, "supply", exact(product.supply, TOKEN_DECIMALS) + " tokens", product.supply + " base units");
  setField(el, "cash", exact(product.cash, collateral), product.cash + " base units");
  setField(el, "debt_units", exact(product.debt_units, WAD) + " index units", product.debt_units + " (WAD)");
  setField(el, "price_age", product.price_age_s === null ? "no price yet" : duration(product.price_age_s),
    product.price_observed_at ? "observed at " + product.price_observed_at + " UTC" : "");
  setField(el, "next_rebalance", (product.next_rebalance_in_s >= 0 ? "in " : "due ") + duration(Math.abs(product.next_rebalance_in_s)),
    product.next_rebalance_at + " UTC");
  setField(el, "funding_rate", exact(product.funding_rate, WAD - 2) + " %/yr", product.funding_rate + " (WAD)");
  const note = $(".halt-note", el);
  if (product.status === "HALTED") {
    note.hidden = false;
    note.textContent = `Circuit breaker: pending index price ${exact(product.pending_index_price, WAD)} awaits confirmation by more reporters or the admin.`;
  } else if (product.status === "SETTLED") {
    note.hidden = false;
    note.textContent = `Settled: pro-rata redemption only; bad debt ${exact(product.bad_debt, collateral)}.`;
  } else {
    note.hidden = true;
  }
  renderGauge(el, product);
}

function renderGauge(el, product) {
  const ripcord = plotValue(product.ripcord_leverage, WAD);
  const scale = ripcord * 1.25;
  const at = (v) => Math.max(0, Math.min(100, (v / scale) * 100)) + "%";
  const band = $(".gauge .band", el);
  const low = plotValue(product.band_low, WAD);
  const high = plotValue(product.band_high, WAD);
  band.style.left = at(low);
  band.style.width = `calc(${at(high)} - ${at(low)})`;
  $(".gauge .ripcord", el).style.left = at(ripcord);
  $(".gauge .target", el).style.left = at(Math.abs(plotValue(product.target_leverage, WAD)));
  const needle = $(".gauge .needle", el);
  needle.hidden = !product.leverage;
  if (product.leverage) needle.style.left = at(Math.abs(plotValue(product.leverage, WAD)));
}

// --- charts ----------------------------------------------------------------------------

function chartWidth(el) {
  return Math.max(260, $(".plot", el).clientWidth || 400);
}

// A history whose points all share one moment (a node on a simulated clock that has not
// moved yet) still gets a readable time axis: an hour either side, not the chart's default.
const timeScale = { time: true };

function fitTime(chart, xs) {
  if (xs.length && xs[0] === xs[xs.length - 1]) chart.setScale("x", { min: xs[0] - 3600, max: xs[0] + 3600 });
}

// A value scale at least 0.01 % of its magnitude wide: a NAV that moved by 1e-9 would
// otherwise ask the chart for ticks finer than a float can tell apart.
function valueRange(u, min, max) {
  if (min === null || max === null) return [0, 1];
  const pad = Math.max((max - min) * 0.1, Math.abs(max) * 1e-4, 1e-6);
  return [min - pad, max + pad];
}

function makeCharts(card) {
  const el = card.el;
  const navEl = $(".nav-chart .plot", el);
  const levEl = $(".leverage-chart .plot", el);
  const axis = { stroke: "#7d8a97", grid: { stroke: "#26313d" }, ticks: { stroke: "#26313d" } };
  card.chart = new uPlot({
    width: chartWidth($(".nav-chart", el)), height: 180,
    scales: { x: timeScale, nav: { range: valueRange }, index: { range: valueRange } },
    series: [{}, { label: "NAV/token", stroke: "#4fb3ff", width: 2, scale: "nav" },
      { label: "index", stroke: "#ff9f43", width: 1.5, scale: "index" }],
    axes: [axis, { ...axis, scale: "nav" }, { ...axis, scale: "index", side: 1, grid: { show: false } }],
  }, [[], [], []], navEl);
  card.levChart = new uPlot({
    width: chartWidth($(".leverage-chart", el)), height: 180,
    scales: { x: timeScale, y: { range: valueRange } },
    series: [{}, { label: "|leverage|", stroke: "#3ecf8e", width: 2 },
      { label: "band low", stroke: "#7d8a97", dash: [4, 4] }, { label: "band high", stroke: "#7d8a97", dash: [4, 4] },
      { label: "ripcord", stroke: "#ff5c5c", dash: [6, 3] }],
    axes: [axis, axis],
  }, [[], [], [], [], []], levEl);
}

function redraw(card) {
  const nav = card.nav;
  const p = card.product;
  const n = nav.xs.length;
  card.chart.setData([nav.xs, nav.navs, nav.index]);
  fitTime(card.chart, nav.xs);
  card.levChart.setData([nav.xs, nav.lev,
    new Array(n).fill(plotValue(p.band_low, WAD)), new Array(n).fill(plotValue(p.band_high, WAD)),
    new Array(n).fill(plotValue(p.ripcord_leverage, WAD))]);
  fitTime(card.levChart, nav.xs);
  card.el.dataset.navPoints = String(n);
  $(".nav-chart", card.el).dataset.points = String(n);
}

async function refreshNav(card) {
  if (!card.chart) makeCharts(card);
  const nav = card.nav;
  const url = `/api/nav/${encodeURIComponent(card.product.product_id)}?after_position=${nav.after}&max_points=${MAX_POINTS}`;
  const response = await fetch(url);
  if (!response.ok) throw new Error("nav " + response.status);
  const body = await response.json();
  for (const point of body.points) {
    if (point.position <= nav.after) continue;
    nav.after = point.position;
    nav.xs.push(point.at);
    nav.navs.push(plotValue(point.nav_per_token, WAD));
    nav.index.push(plotValue(point.index_price, WAD));
    nav.lev.push(point.leverage ? Math.abs(plotValue(point.leverage, WAD)) : null);
  }
  redraw(card);
}

// --- refreshing ------------------------------------------------------------------------

async function refresh() {
  if (refreshing) { refreshAgain = true; return; }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      const response = await fetch("/api/products", { cache: "no-store" });
      if (!response.ok) {
        for (const card of cards.values()) card.el.classList.add("stale");
        continue;
      }
      const body = await response.json();
      for (const product of body.products) renderCard(product);
      await Promise.all([...cards.values()].map((card) => refreshNav(card).catch(() => card.el.classList.add("stale"))));
      document.body.dataset.refreshedAt = body.now;
    } while (refreshAgain);
  } catch (error) {
    for (const card of cards.values()) card.el.classList.add("stale");
  } finally {
    refreshing = false;
  }
}

function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 120);
}

// --- the event tail --------------------------------------------------------------------

function showEvent(item) {
  if (item.position <= lastShown) return;  // resumed streams never repeat a row
  lastShown = item.position;
  const li = document.createElement("li");
  li.dataset.position = String(item.position);
  li.dataset.type = item.type;
  li.dataset.product = item.product_id;
  if (item.holder) li.dataset.holder = item.holder;
  if (item.routine) li.dataset.routine = "1";
  if (settled) li.className = "fresh";
  const meta = document.createElement("div");
  meta.className = "meta";
  for (const [cls, text] of [["pos", "#" + item.position], ["at", item.at], ["product", item.product_id], ["type", item.type]]) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    meta.appendChild(span);
  }
  const what = document.createElement("div");
  what.className = "what";
  if (item.holder) {
    const holder = document.createElement("span");
    holder.className = "holder";
    holder.textContent = item.holder + " · ";
    what.appendChild(holder);
  }
  what.appendChild(document.createTextNode(item.summary));
  li.append(meta, what);
  const tail = $("#tail");
  tail.insertBefore(li, tail.firstChild);
  while (tail.children.length > MAX_TAIL_ROWS) tail.removeChild(tail.lastChild);
  $("#tail-position").textContent = "up to position " + item.position;
}

function connectEvents() {
  // EventSource reconnects by itself and sends Last-Event-ID: the dashboard resumes after it.
  const source = new EventSource("/api/events?after=" + lastShown);
  source.addEventListener("tail", (message) => {
    showEvent(JSON.parse(message.data));
    refreshSoon();
  });
  source.addEventListener("status", (message) => {
    const status = JSON.parse(message.data);
    nodeConnected = status.connected;
    if (status.connected) {
      setNodeStatus("connected", `node ${status.node} connected`);
      refreshSoon();
    } else {
      setNodeStatus("disconnected", `node ${status.node} unreachable since ${status.since} UTC (${status.error}); reconnecting…`);
      for (const card of cards.values()) card.el.classList.add("stale");
    }
  });
  source.onerror = () => {
    setNodeStatus("dashboard-down", "the dashboard server is unreachable; reconnecting…");
  };
}

// --- the audit -------------------------------------------------------------------------

async function checkInvariants() {
  const button = $("#check");
  const panel = $("#audit");
  button.disabled = true;
  panel.hidden = false;
  delete panel.dataset.ok;
  panel.textContent = "Replaying the log and checking every invariant…";
  try {
    const response = await fetch("/api/check", { method: "POST" });
    const body = await response.json();
    panel.textContent = "";
    const verdict = document.createElement("div");
    verdict.className = "verdict";
    if (!response.ok) {
      panel.dataset.ok = "false";
      verdict.textContent = "Could not run the audit: " + body.error;
      panel.appendChild(verdict);
      return;
    }
    panel.dataset.ok = String(body.ok);
    panel.dataset.eventsChecked = String(body.events_checked);
    const when = new Date().toLocaleTimeString();
    verdict.textContent = body.ok
      ? `✓ Clean: ${body.events_checked} events replayed over ${body.products} product(s), ${body.invariants_checked} invariant checks, no violation (checked at ${when}).`
      : `✗ ${body.violations.length} violation(s) in ${body.events_checked} events replayed (checked at ${when}):`;
    panel.appendChild(verdict);
    if (!body.ok) {
      const list = document.createElement("ul");
      for (const v of body.violations) {
        const li = document.createElement("li");
        li.dataset.position = String(v.position);
        li.textContent = `position ${v.position} · ${v.product_id} v${v.version} · ${v.invariant}: ${v.detail}`;
        list.appendChild(li);
      }
      panel.appendChild(list);
    }
  } catch (error) {
    panel.dataset.ok = "false";
    panel.textContent = "Could not reach the dashboard: " + error;
  } finally {
    button.disabled = false;
  }
}

// --- start -----------------------------------------------------------------------------

window.iitDashboard = { exact, cards: () => cards, lastShown: () => lastShown };
$("#check").addEventListener("click", checkInvariants);
// Each reporter's every price is in the log, and each re-accepts an unchanged index: the
// tail folds these unless asked (they stay in the page, so nothing is missed).
$("#show-reports").addEventListener("change", (e) => $("#tail").classList.toggle("quiet", !e.target.checked));
window.addEventListener("resize", () => {
  for (const card of cards.values()) {
    if (!card.chart) continue;
    card.chart.setSize({ width: chartWidth($(".nav-chart", card.el)), height: 180 });
    card.levChart.setSize({ width: chartWidth($(".leverage-chart", card.el)), height: 180 });
  }
});
connectEvents();
refresh();
setInterval(() => { if (nodeConnected) refresh(); }, REFRESH_MS);
