"""Two self-contained HTML pages served on the HTTP port (no CDN, no external asset):

* `GET /docs`: renders `GET /openapi.json` (each endpoint, its description, request example and
  responses; a button to send GET requests and example POST bodies);
* `GET /`: a page to try the service: pick an image, it is posted to `/{name}/prediction`, and
  the result is drawn: boxes with labels and scores (detection), the top-k (classification), the
  label map over the image (segmentation), the vector (embedding), text-line polygons with
  their recognised text (ocr).

They are small, so they are plain strings here (no package data, no front-end build); the
service's name and task are substituted as JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.5rem} h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.4rem .8rem}
.m{display:inline-block;min-width:3.5rem;font-weight:600;color:#fff;border-radius:4px;
   text-align:center;margin-right:.5rem;padding:0 .3rem}
.GET{background:#2b7bb9}.POST{background:#3c9d4e}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:18rem}
summary{cursor:pointer} code{background:#f2f2f2;padding:0 .2rem}
</style></head><body>
<h1 id="title">API</h1><p id="desc"></p><div id="ops">loading /openapi.json ...</div>
<script>
"use strict";
const el = (tag, props, ...kids) => {
  const n = Object.assign(document.createElement(tag), props || {});
  kids.forEach(k => n.append(k)); return n; };
// `code` spans as <code> elements, everything else as text: no markup from the document
const md = s => (s || "").split(/`([^`]+)`/).map((part, i) =>
  i % 2 ? el("code", {textContent: part}) : document.createTextNode(part));
async function send(method, path, body, out) {
  out.textContent = "...";
  try {
    const r = await fetch(path, {method, body: method === "POST" ? body : undefined,
                                 headers: {"Content-Type": "application/json"}});
    const text = await r.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) {}
    out.textContent = r.status + " " + r.statusText + "\\n" + shown;
  } catch (e) { out.textContent = String(e); }
}
fetch("openapi.json").then(r => r.json()).then(doc => {
  document.title = doc.info.title;
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("desc").append(...md(doc.info.description));
  const ops = document.getElementById("ops"); ops.textContent = "";
  const groups = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["Pages"])[0];
      (groups[tag] = groups[tag] || []).push([method.toUpperCase(), path, op]);
    }
  }
  for (const [tag, list] of Object.entries(groups)) {
    ops.append(el("h2", {textContent: tag}));
    for (const [method, path, op] of list) {
      const box = el("details", {className: "op"});
      box.append(el("summary", {}, el("span", {className: "m " + method, textContent: method}),
                    el("code", {textContent: path}), " " + (op.summary || "")));
      if (op.description) box.append(el("p", {}, ...md(op.description)));
      const example = op.requestBody && op.requestBody.content["application/json"].example;
      const body = el("textarea", {rows: 6, cols: 80,
                                   value: example ? JSON.stringify(example, null, 2) : ""});
      if (method === "POST") box.append(el("div", {}, "Request body:"), body);
      const out = el("pre", {textContent: ""});
      box.append(el("button", {textContent: "Send", onclick: () => send(method, path, body.value, out)}));
      box.append(el("div", {}, "Responses: " + Object.keys(op.responses || {}).join(", ")), out);
      ops.append(box);
    }
  }
}).catch(e => { document.getElementById("ops").textContent = "cannot load openapi.json: " + e; });
</script></body></html>
"""

_PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Try the model</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:62rem;padding:0 1rem;color:#222}
h1{font-size:1.4rem} #drop{border:2px dashed #999;border-radius:8px;padding:1rem;text-align:center}
#view{margin-top:1rem;max-width:100%} canvas{max-width:100%;border:1px solid #ddd}
table{border-collapse:collapse;margin-top:.5rem} td,th{border:1px solid #ddd;padding:.2rem .6rem}
.bar{background:#3c9d4e;height:.8rem} #status{color:#555;margin:.5rem 0} .err{color:#b00}
</style></head><body>
<h1 id="title">Try the model</h1>
<p>Service <code id="svc"></code>, task <b id="task"></b>. See also <a href="docs">the API</a>.</p>
<div id="drop"><input type="file" id="file" accept="image/*">
 <div>or drop an image here</div></div>
<div id="status" data-state="idle">Pick an image.</div>
<div id="view"><canvas id="canvas" width="1" height="1"></canvas><div id="result"></div></div>
<script>
"use strict";
const CONFIG = __CONFIG__;
const $ = id => document.getElementById(id);
$("svc").textContent = CONFIG.name; $("task").textContent = CONFIG.task || "generic";
document.title = CONFIG.name + ": try the model";
const PALETTE = [[230,25,75],[60,180,75],[255,225,25],[0,130,200],[245,130,48],[145,30,180],
                 [70,240,240],[240,50,230],[210,245,60],[250,190,212],[0,128,128],[170,110,40]];
const color = i => PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
function status(text, state, error) {
  const s = $("status"); s.textContent = text; s.dataset.state = state;
  s.className = error ? "err" : ""; }
function readAsDataURL(file) {
  return new Promise((ok, fail) => { const r = new FileReader();
    r.onload = () => ok(r.result); r.onerror = () => fail(r.error); r.readAsDataURL(file); }); }
function loadImage(src) {
  return new Promise((ok, fail) => { const img = new Image();
    img.onload = () => ok(img); img.onerror = () => fail(new Error("not an image")); img.src = src; }); }
function drawDetections(ctx, dets) {
  const w = Math.max(2, ctx.canvas.width / 300);
  ctx.lineWidth = w; ctx.font = Math.round(6 * w + 6) + "px sans-serif";
  for (const d of dets) {
    const [x1, y1, x2, y2] = d.bbox, c = color(d.category_id);
    const text = (d.label || d.category_id) + " " + d.score.toFixed(2);
    ctx.strokeStyle = "rgb(" + c + ")"; ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const tw = ctx.measureText(text).width, th = 6 * w + 8;
    ctx.fillStyle = "rgb(" + c + ")"; ctx.fillRect(x1, Math.max(0, y1 - th), tw + 6, th);
    ctx.fillStyle = "#000"; ctx.fillText(text, x1 + 3, Math.max(th - 4, y1 - 4));
  }
  return dets.length + " boxes";
}
// OCR (two-stage service): each line's polygon and its recognised text above it
function drawOcr(ctx, lines) {
  const w = Math.max(2, ctx.canvas.width / 300);
  ctx.lineWidth = w; ctx.font = Math.round(6 * w + 6) + "px sans-serif";
  lines.forEach((l, i) => {
    const c = "rgb(" + color(i) + ")", p = l.poly;
    ctx.strokeStyle = c; ctx.beginPath(); ctx.moveTo(p[0][0], p[0][1]);
    for (const [x, y] of p.slice(1)) ctx.lineTo(x, y);
    ctx.closePath(); ctx.stroke();
    const tw = ctx.measureText(l.text).width, th = 6 * w + 8;
    const x = Math.min(...p.map(q => q[0])), y = Math.min(...p.map(q => q[1]));
    ctx.fillStyle = c; ctx.fillRect(x, Math.max(0, y - th), tw + 6, th);
    ctx.fillStyle = "#000"; ctx.fillText(l.text, x + 3, Math.max(th - 4, y - 4));
  });
  return lines.length + " text lines";
}
async function drawMask(ctx, seg) {
  const mask = await loadImage("data:image/png;base64," + seg.label_map);
  const off = document.createElement("canvas"); off.width = ctx.canvas.width; off.height = ctx.canvas.height;
  const octx = off.getContext("2d"); octx.imageSmoothingEnabled = false;
  octx.drawImage(mask, 0, 0, off.width, off.height);
  const ids = octx.getImageData(0, 0, off.width, off.height);
  const over = ctx.getImageData(0, 0, off.width, off.height);
  const seen = new Set();
  for (let i = 0; i < ids.data.length; i += 4) {
    const id = ids.data[i]; if (id === 0) continue; seen.add(id);
    const c = color(id);
    for (let k = 0; k < 3; k++) over.data[i + k] = Math.round(0.45 * over.data[i + k] + 0.55 * c[k]);
  }
  ctx.putImageData(over, 0, 0);
  return "classes in the mask: " + ([...seen].sort((a, b) => a - b).join(", ") || "none but 0");
}
function table(rows, head) {
  const t = document.createElement("table");
  const hr = t.insertRow();
  head.forEach(h => hr.append(Object.assign(document.createElement("th"), {textContent: h})));
  for (const r of rows) { const tr = t.insertRow(); r.forEach(v => {
    const td = tr.insertCell(); if (v instanceof Node) td.append(v); else td.textContent = v; }); }
  return t;
}
async function run(file) {
  status("Sending " + file.name + " ...", "busy");
  $("result").textContent = "";
  try {
    const url = await readAsDataURL(file);
    const img = await loadImage(url);
    const canvas = $("canvas"); canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d"); ctx.drawImage(img, 0, 0);
    const started = performance.now();
    const reply = await fetch(encodeURIComponent(CONFIG.name) + "/prediction", {method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({key: ["image"], value: [url.slice(url.indexOf(",") + 1)]})});
    const doc = await reply.json();
    const ms = Math.round(performance.now() - started);
    if (!reply.ok || doc.err_no !== 0) {
      status("Error " + (doc.err_no !== undefined ? "err_no " + doc.err_no + ": " + doc.err_msg
                                                  : reply.status + ": " + doc.error), "error", true);
      return;
    }
    const result = JSON.parse(doc.value[doc.key.indexOf("image")]);
    let summary;
    if (CONFIG.task === "detection") {
      summary = drawDetections(ctx, result);
      $("result").append(table(result.map(d => [d.label, d.score.toFixed(3), d.bbox.map(v => v.toFixed(1)).join(", ")]),
                               ["label", "score", "box (x1, y1, x2, y2)"]));
    } else if (CONFIG.task === "classification") {
      summary = "top " + result.length + ": " + result.map(t => t.label).join(", ");
      $("result").append(table(result.map(t => {
        const bar = document.createElement("div"); bar.className = "bar";
        bar.style.width = Math.round(200 * t.score) + "px";
        return [t.label, t.score.toFixed(3), bar]; }), ["label", "score", ""]));
    } else if (CONFIG.task === "ocr") {
      summary = drawOcr(ctx, result);
      $("result").append(table(result.map(l => [l.text, l.score.toFixed(3),
                                                l.poly.map(q => q.join(",")).join(" ")]),
                               ["text", "score", "polygon (x,y) x 4"]));
    } else if (CONFIG.task === "text_detection") {
      summary = drawOcr(ctx, result.map(r => ({poly: r.poly, text: r.score.toFixed(2)})))
        .replace("text lines", "text regions");
      $("result").append(table(result.map(r => [r.score.toFixed(3),
                                                r.poly.map(q => q.join(",")).join(" ")]),
                               ["score", "polygon (x,y) x 4"]));
    } else if (CONFIG.task === "text_recognition" || CONFIG.task === "textline_orientation") {
      const what = CONFIG.task === "text_recognition" ? "text" : "label";
      summary = what + " " + JSON.stringify(result[what]);
      $("result").append(table([[result[what], result.score.toFixed(3)]], [what, "score"]));
    } else if (CONFIG.task === "segmentation") {
      summary = await drawMask(ctx, result);
    } else {
      summary = Array.isArray(result) ? "vector of " + result.length + " values" : "result";
      $("result").append(Object.assign(document.createElement("pre"),
        {textContent: JSON.stringify(result).slice(0, 2000)}));
    }
    status(summary + " (" + ms + " ms)", "done");
  } catch (e) { status(String(e), "error", true); }
}
$("file").addEventListener("change", e => { if (e.target.files[0]) run(e.target.files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", e => e.preventDefault());
drop.addEventListener("drop", e => { e.preventDefault(); if (e.dataTransfer.files[0]) run(e.dataTransfer.files[0]); });
</script></body></html>
"""


def _inline(page: str, tag: str) -> str:
    start = page.index(f"<{tag}>") + len(tag) + 2
    return page[start:page.index(f"</{tag}>", start)]


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def page_headers(page: str) -> list[tuple[str, str]]:
    """Headers of a page: no MIME sniffing, and a CSP allowing only the page's own inline
    script and style (by hash), requests to this service, and images from data/blob URLs
    (the picked image, the segmentation mask); nothing loads from anywhere else."""
    csp = (f"default-src 'none'; script-src {_sha256(_inline(page, 'script'))}; "
           f"style-src {_sha256(_inline(page, 'style'))}; connect-src 'self'; "
           "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; "
           "frame-ancestors 'none'")
    return [("X-Content-Type-Options", "nosniff"), ("Content-Security-Policy", csp),
            ("Referrer-Policy", "no-referrer")]


def docs_page() -> bytes:
    """The `GET /docs` page."""
    return DOCS_HTML.encode("utf-8")


def try_page(name: str, task: str | None) -> str:
    """The `GET /` page for service `name` and its task (detection, classification, ...)."""
    config = json.dumps({"name": name, "task": task}).replace("<", "\\u003c")
    return _PAGE_HTML.replace("__CONFIG__", config)


def web_routes(name: str, version: str, registry: Any, task: str | None) -> dict[str, Any]:
    """GET routes `/openapi.json`, `/docs` and `/` (the document is built on first use)."""
    from generator.runtime.protocols.http.openapi import openapi_document

    cache: dict[str, bytes] = {}

    def spec() -> tuple[int, str, bytes]:
        if "doc" not in cache:
            models = list(registry.models.values())
            cache["doc"] = json.dumps(openapi_document(name, version, models, task)).encode()
        return 200, "application/json", cache["doc"], [("X-Content-Type-Options", "nosniff")]

    page = try_page(name, task)
    html = "text/html; charset=utf-8"
    docs = (200, html, docs_page(), page_headers(DOCS_HTML))
    root = (200, html, page.encode("utf-8"), page_headers(page))
    return {"/openapi.json": spec, "/docs": lambda: docs, "/": lambda: root}
