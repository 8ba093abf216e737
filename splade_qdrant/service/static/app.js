// The search page: plain JavaScript, no build step, no network access beyond this service.
"use strict";

const $ = (id) => document.getElementById(id);
const keyStore = window.sessionStorage;

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = keyStore.getItem("splade-qdrant-key");
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const fmt = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));

function setStatus(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function loadMeta() {
  try {
    const health = await (await fetch("/health")).json();
    let text = `collection ${health.collection}`;
    if (!health.collection_exists) text += " (empty: POST /documents to add documents)";
    $("meta").textContent = text + ` · v${health.version}`;
    if (!health.dense) {
      for (const opt of $("mode").options) if (opt.value !== "sparse") opt.disabled = true;
    }
  } catch (err) {
    $("meta").textContent = "service unreachable";
  }
}

// The snippet with the words that carry query terms wrapped in <mark>, contribution as a tooltip.
function snippetNode(hl) {
  const p = el("div", { class: "snippet" });
  if (hl.truncated_before) p.append("… ");
  let at = 0;
  for (const span of hl.spans) {
    p.append(hl.text.slice(at, span.start));
    const mark = el("mark", { title: `${span.terms.join(" + ")}: ${fmt(span.contribution)}` }, hl.text.slice(span.start, span.end));
    mark.append(el("sup", {}, fmt(span.contribution, 2)));
    p.append(mark);
    at = span.end;
  }
  p.append(hl.text.slice(at));
  if (hl.truncated_after) p.append(" …");
  return p;
}

function termsNode(hit, hl) {
  const box = el("div", { class: "terms" });
  const matches = hit.explanation || [];
  if (!matches.length) return box;
  const top = matches[0].contribution || 1;
  const absent = new Set((hl ? hl.unmatched_terms : []).map((t) => t.term));
  box.append(el("span", {}, "matched terms:"));
  for (const m of matches.slice(0, 12)) {
    const bar = el("span", { class: "bar" });
    bar.style.width = Math.max(2, Math.round(40 * m.contribution / top)) + "px";
    const cls = absent.has(m.term) ? "term expansion" : "term";
    const title = absent.has(m.term) ? "expansion term: not in the text" : "in the text";
    box.append(el("span", { class: cls, title }, `${m.term} ${fmt(m.contribution, 2)}`, bar));
  }
  return box;
}

function hitNode(hit, hl, rank) {
  const p = hit.payload || {};
  const title = p.title || hit.id;
  const h2 = el("h2", {}, el("span", { class: "rank" }, `${rank}.`), String(title), el("span", { class: "id" }, `id ${hit.id}`));
  const scores = el("div", { class: "scores" }, "score ", el("b", {}, fmt(hit.score, 4)));
  if (hit.breakdown) {
    const b = hit.breakdown;
    scores.append(` · sparse #${b.sparse_rank ?? "–"} (${fmt(b.sparse_score)}) · dense #${b.dense_rank ?? "–"} (${fmt(b.dense_score)})`);
  }
  const node = el("article", { class: "hit", "data-id": hit.id }, h2, scores);
  if (hl && hl.field) node.append(snippetNode(hl));
  node.append(termsNode(hit, hl));
  return node;
}

async function search(event) {
  if (event) event.preventDefault();
  const text = $("q").value.trim();
  if (!text) return;
  if ($("key").value) keyStore.setItem("splade-qdrant-key", $("key").value);
  const body = { text, limit: Number($("limit").value) || 10, mode: $("mode").value, explain: true, highlight: true };
  setStatus("searching…");
  const started = performance.now();
  let resp;
  try {
    resp = await fetch("/search", { method: "POST", headers: headers(), body: JSON.stringify(body) });
  } catch (err) {
    setStatus("service unreachable", true);
    return;
  }
  const data = await resp.json().catch(() => ({}));
  if (resp.status === 401) {
    $("auth").style.display = "block";
    setStatus("this service needs a client key", true);
    return;
  }
  if (!resp.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    setStatus(`error ${resp.status}: ${detail}`, true);
    return;
  }
  const ms = Math.round(performance.now() - started);
  const results = $("results");
  results.replaceChildren();
  data.hits.forEach((hit, i) => results.append(hitNode(hit, data.highlights ? data.highlights[i] : null, i + 1)));
  setStatus(data.hits.length ? `${data.hits.length} hits in ${ms} ms` : "no hits");
  document.body.dataset.searched = "1";
}

$("search-form").addEventListener("submit", search);
loadMeta();
