// cibscope web app: network drawing (cytoscape.js, vendored) and job progress polling.
// Every string from the server is put into the page with textContent, never as HTML.
"use strict";

function csrfToken() { return document.body.dataset.csrf; }

async function getJSON(url) {
  const r = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
  if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
  return r.json();
}

function showNode(panel, d) {
  panel.replaceChildren();
  const a = document.createElement("a");
  a.href = "/accounts/" + encodeURIComponent(d.id);
  a.textContent = d.handle;
  const p = document.createElement("p");
  p.append(a, document.createTextNode(" " + (d.label || "unlabelled") + ", degree " + d.degree));
  panel.append(p);
}

async function drawNetwork(box) {
  const status = document.getElementById("cy-status");
  const t0 = performance.now();
  let net;
  try { net = await getJSON(box.dataset.src); } catch (e) { status.textContent = String(e); return; }
  const t1 = performance.now();
  const maxWeight = net.edges.reduce((m, e) => Math.max(m, e.data.weight), 0);
  const cy = cytoscape({
    container: box,
    elements: {nodes: net.nodes, edges: net.edges},
    layout: {name: "preset", fit: true, padding: 30},
    textureOnViewport: true, hideEdgesOnViewport: net.edges.length > 2000, pixelRatio: 1,
    style: [
      // labels: 13 px with a white halo, so they read over edges on a 1,400 px screen; hidden when zoomed out
      {selector: "node", style: {"background-color": "data(community_colour)", width: "data(size)", height: "data(size)",
        label: net.nodes.length <= 150 ? "data(handle)" : "", "font-size": 13, color: "#1a1a1a",
        "text-outline-color": "#fff", "text-outline-width": 2, "min-zoomed-font-size": 8, "text-valign": "top",
        "text-margin-y": -3}},
      // haystack edges: straight lines drawn in bulk, cytoscape's fast path for thousands of edges
      {selector: "edge", style: {"curve-style": "haystack", width: "mapData(weight, 0, 50, 0.5, 4)",
        "line-color": "#8a9", opacity: 0.45}},
      {selector: ".hidden", style: {display: "none"}},
      {selector: ".by-label", style: {"background-color": "data(colour)"}},
      {selector: "node:selected", style: {"border-width": 3, "border-color": "#000"}},
    ],
  });
  cy.on("tap", "node", (ev) => showNode(document.getElementById("cy-node"), ev.target.data()));
  networkControls(cy, net, maxWeight);
  cy.ready(() => {
    // labels are drawn in graph units: after fitting a large network (zoom < 1) keep them 13 px on screen
    const z = cy.zoom();
    if (z < 1) {
      cy.style().selector("node").style({"font-size": 13 / z, "text-outline-width": 2 / z, "text-margin-y": -3 / z}).update();
    }
    box.dataset.labelPx = String(Math.round(Number(cy.nodes().first().renderedStyle("font-size").replace("px", "")) || 0));
    const t2 = performance.now();
    status.textContent = net.nodes.length + " accounts, " + (net.edges.length < net.edges_total ?
      net.edges.length + " of " + net.edges_total + " edges (each account's heaviest, then the heaviest)" : net.edges.length + " edges") +
      (net.dropped ? " (" + net.dropped + " weaker accounts not drawn)" : "") + ". Click an account for details.";
    box.dataset.nodes = String(cy.nodes().length);
    box.dataset.edges = String(cy.edges().length);
    box.dataset.fetchMs = String(Math.round(t1 - t0));
    box.dataset.renderMs = String(Math.round(t2 - t0));
    box.dataset.ready = "1";
  });
}

// Colour by community or known label; show only edges with a chosen signal and at least the chosen weight.
function networkControls(cy, net, maxWeight) {
  const box = document.getElementById("cy");
  const colour = document.getElementById("cy-colour");
  const weight = document.getElementById("cy-weight");
  const weightOut = document.getElementById("cy-weight-value");
  const sigBox = document.getElementById("cy-signals");
  const legend = document.getElementById("cy-legend");
  if (!colour || !weight || !sigBox) { return; }
  weight.max = String(maxWeight);
  const boxes = [];
  for (const s of net.signals || []) {
    const label = document.createElement("label");
    const cb = document.createElement("input");
    cb.type = "checkbox"; cb.checked = true; cb.value = s; cb.className = "cy-signal";
    label.append(cb, document.createTextNode(" " + s + " "));
    sigBox.append(label);
    boxes.push(cb);
  }
  const showLegend = () => {
    legend.replaceChildren();
    const byLabel = colour.value === "label";
    const entries = byLabel ? Object.entries(net.legend || {}) : [];
    if (!byLabel) {
      const seen = new Map();
      cy.nodes().forEach((n) => { seen.set(n.data("community"), n.data("community_colour")); });
      [...seen.entries()].sort((x, y) => x[0] - y[0]).forEach(([k, c]) => entries.push(["community " + (k + 1), c]));
    }
    for (const [name, c] of entries) {
      const row = document.createElement("div");
      const dot = document.createElement("span");
      dot.className = "dot"; dot.style.background = c;
      row.append(dot, document.createTextNode(" " + name));
      legend.append(row);
    }
  };
  const apply = () => {
    const on = new Set(boxes.filter((b) => b.checked).map((b) => b.value));
    const min = Number(weight.value);
    weightOut.textContent = min.toFixed(1);
    cy.batch(() => {
      cy.nodes().toggleClass("by-label", colour.value === "label");
      cy.edges().forEach((e) => {
        const keep = e.data("weight") >= min && (e.data("signals") || []).some((s) => on.has(s));
        e.toggleClass("hidden", !keep);
      });
    });
    box.dataset.visibleEdges = String(cy.edges().filter((e) => !e.hasClass("hidden")).length);
    box.dataset.colour = colour.value;
    showLegend();
  };
  colour.addEventListener("change", apply);
  weight.addEventListener("input", apply);
  boxes.forEach((b) => b.addEventListener("change", apply));
  apply();
}

// The DISARM techniques of a cluster (GET .../disarm), as a table; every value goes in as text.
async function showDisarm(box) {
  const status = document.getElementById("disarm-status");
  let tags;
  try { tags = await getJSON(box.dataset.src); } catch (e) { status.textContent = String(e); return; }
  if (!tags.length) { status.textContent = "No DISARM rule fired for this cluster."; box.dataset.ready = "1"; return; }
  const cell = (tr, tag, ...parts) => {
    const td = document.createElement(tag);
    td.append(...parts);
    tr.append(td);
    return td;
  };
  const table = document.createElement("table");
  table.className = "grid";
  table.id = "disarm";
  const head = document.createElement("tr");
  for (const h of ["technique", "tactic", "behaviour", "threshold", "evidence"]) { cell(head, "th", h); }
  table.append(head);
  for (const t of tags) {
    const tr = document.createElement("tr");
    const id = document.createElement("b");
    id.textContent = t.disarm_id;
    cell(tr, "td", id, " " + t.name);
    cell(tr, "td", t.tactic_id + " " + t.tactic_name);
    cell(tr, "td", t.behaviour);
    cell(tr, "td", t.threshold);
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "values";
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(t.evidence, null, 1);
    details.append(summary, pre);
    cell(tr, "td", details);
    table.append(tr);
  }
  status.remove();
  box.append(table);
  box.dataset.ready = "1";
}

function pollJob(box) {
  const set = (id, v) => { const el = document.getElementById(id); if (el) { el.textContent = v; } };
  const tick = async () => {
    let j;
    try { j = await getJSON(box.dataset.src); } catch (e) { set("job-step", String(e)); return; }
    set("job-state", j.state);
    set("job-step", j.step);
    set("job-done", j.total ? j.done + " / " + j.total : String(j.done));
    const bar = document.getElementById("job-progress");
    if (j.total) { bar.max = j.total; bar.value = j.done; }
    if (j.state === "done" || j.state === "failed") {
      if (j.total) { bar.value = j.state === "done" ? j.total : j.done; } else { bar.max = 1; bar.value = 1; }
      set("job-result", j.error || JSON.stringify(j.result, null, 1));
      document.getElementById("job-next").hidden = false;
      box.dataset.finished = j.state;
      return;
    }
    setTimeout(tick, 500);
  };
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  const cyBox = document.getElementById("cy");
  if (cyBox && window.cytoscape) { drawNetwork(cyBox); }
  const disarm = document.getElementById("disarm-box");
  if (disarm) { showDisarm(disarm); }
  const job = document.getElementById("job");
  if (job) { pollJob(job); }
});
