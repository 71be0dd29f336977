// The s3gate console. Every action is an S3 request to this listener's /s3/ path, signed here
// with SigV4 (WebCrypto), so the server authorises it exactly as that key's S3 request: the
// console has no rights of its own. The secret lives in this script's memory only (never in
// storage or a cookie): a reload, closing the page, signing out or 15 minutes without activity
// end the session.
"use strict";

const REGION = "us-east-1";
const IDLE_LIMIT_MS = 15 * 60 * 1000;
const STATUS_REFRESH_MS = 2000;
const PAGE_KEYS = 200;
// Files from this size on go up in parts, each by its own presigned URL.
const MULTIPART_FROM = 16 * 1024 * 1024;
const PART_SIZE = 8 * 1024 * 1024;
const PRESIGN_SECONDS = 900;
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const enc = new TextEncoder();
let session = null; // {accessKey, secret}
let idleTimer = null;
let statusTimer = null;
let listing = null; // {bucket, prefix, token}

const $ = (id) => document.getElementById(id);

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function button(label, onClick, attrs) {
  const b = el("button", label, Object.assign({type: "button"}, attrs));
  b.addEventListener("click", onClick);
  return b;
}

// ---------------------------------------------------------------- SigV4

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(data) {
  return hex(await crypto.subtle.digest("SHA-256", typeof data === "string" ? enc.encode(data) : data));
}

async function hmac(key, message) {
  const k = await crypto.subtle.importKey(
    "raw", typeof key === "string" ? enc.encode(key) : key,
    {name: "HMAC", hash: "SHA-256"}, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(message)));
}

// RFC 3986 as SigV4 wants it: every byte but the unreserved characters escaped.
function uriEncode(s) {
  let out = "";
  for (const b of enc.encode(s)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

// The path of a bucket or an object, as sent and as signed.
function s3Path(bucket, key) {
  if (!bucket) return "/";
  let p = "/" + uriEncode(bucket);
  if (key !== undefined && key !== null) p += "/" + key.split("/").map(uriEncode).join("/");
  return p;
}

function canonicalQuery(query) {
  const pairs = Object.entries(query).map(([k, v]) => [uriEncode(k), uriEncode(v == null ? "" : String(v))]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => k + "=" + v).join("&");
}

function signingTime() {
  const datetime = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  return {datetime, date: datetime.slice(0, 8), scope: `${datetime.slice(0, 8)}/${REGION}/s3/aws4_request`};
}

async function signature(t, canonical) {
  const sts = ["AWS4-HMAC-SHA256", t.datetime, t.scope, await sha256Hex(canonical)].join("\n");
  let key = await hmac("AWS4" + session.secret, t.date);
  for (const part of [REGION, "s3", "aws4_request"]) key = await hmac(key, part);
  return hex(await hmac(key, sts));
}

// Headers that sign a request in its Authorization header (`host` is the browser's own).
async function authorize(method, path, query, payloadHash) {
  const t = signingTime();
  const headers = {"x-amz-content-sha256": payloadHash, "x-amz-date": t.datetime};
  const all = Object.assign({host: location.host}, headers);
  const names = Object.keys(all).sort();
  const canonical = [
    method, path, canonicalQuery(query),
    names.map((n) => `${n}:${all[n]}\n`).join(""), names.join(";"), payloadHash,
  ].join("\n");
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${session.accessKey}/${t.scope}, ` +
    `SignedHeaders=${names.join(";")}, Signature=${await signature(t, canonical)}`;
  return headers;
}

// A presigned URL on this listener: for downloads and for uploads the browser reports
// progress of (XMLHttpRequest), whose bodies need not be hashed first.
async function presign(method, path, query) {
  const t = signingTime();
  const q = Object.assign({}, query, {
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": `${session.accessKey}/${t.scope}`,
    "X-Amz-Date": t.datetime,
    "X-Amz-Expires": String(PRESIGN_SECONDS),
    "X-Amz-SignedHeaders": "host",
  });
  const canonical = [method, path, canonicalQuery(q), `host:${location.host}\n`, "host", "UNSIGNED-PAYLOAD"].join("\n");
  q["X-Amz-Signature"] = await signature(t, canonical);
  return "/s3" + path + "?" + canonicalQuery(q);
}

class S3Failure extends Error {
  constructor(status, code, message) {
    super(code + (message ? ": " + message : ""));
    this.status = status;
    this.code = code;
  }
}

async function failure(resp) {
  const text = await resp.text().catch(() => "");
  const doc = text ? new DOMParser().parseFromString(text, "application/xml") : null;
  const pick = (name) => (doc && doc.getElementsByTagName(name)[0] ? doc.getElementsByTagName(name)[0].textContent : "");
  return new S3Failure(resp.status, pick("Code") || `HTTP ${resp.status}`, pick("Message"));
}

// One signed S3 request through /s3/; refuses with the S3 error it was answered.
async function s3(method, bucket, key, opts) {
  const {query = {}, body = null} = opts || {};
  const bytes = typeof body === "string" ? enc.encode(body) : body;
  const path = s3Path(bucket, key);
  const headers = await authorize(method, path, query, bytes ? await sha256Hex(bytes) : EMPTY_SHA256);
  const qs = canonicalQuery(query);
  const resp = await fetch("/s3" + path + (qs ? "?" + qs : ""), {
    method, headers, body: bytes || undefined, cache: "no-store", credentials: "omit",
  });
  if (!resp.ok) throw await failure(resp);
  return resp;
}

async function s3Xml(method, bucket, key, opts) {
  const resp = await s3(method, bucket, key, opts);
  return new DOMParser().parseFromString(await resp.text(), "application/xml");
}

function text(node, name) {
  const found = node.getElementsByTagName(name)[0];
  return found ? found.textContent : "";
}

function children(node, name) {
  return Array.from(node.children).filter((c) => c.localName === name);
}

// ---------------------------------------------------------------- session

function touch() {
  if (!session) return;
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => signOut("The session ended after 15 minutes without activity."), IDLE_LIMIT_MS);
}

function signOut(why) {
  session = null;
  clearTimeout(idleTimer);
  clearInterval(statusTimer);
  listing = null;
  $("signin-secret").value = "";
  notice(why || "");
  if (location.hash !== "#/signin") location.hash = "#/signin";
  else route();
}

async function signIn(ev) {
  ev.preventDefault();
  const accessKey = $("signin-access").value.trim();
  const secret = $("signin-secret").value;
  $("signin-secret").value = "";
  show($("signin-error"), false);
  if (!window.crypto || !crypto.subtle) {
    signInError("This page needs a secure context for its signatures: open it over HTTPS or on a loopback address.");
    return;
  }
  session = {accessKey, secret};
  try {
    // The key and secret are proved by a request they sign: ListBuckets.
    await s3("GET", "", null);
  } catch (e) {
    session = null;
    signInError(e.code === "SignatureDoesNotMatch" || e.code === "InvalidAccessKeyId"
      ? `Refused: ${e.code} (wrong access key or secret)` : `Refused: ${e.message}`);
    return;
  }
  touch();
  notice("");
  if (location.hash !== "#/buckets") location.hash = "#/buckets";
  else route();
}

function signInError(message) {
  const p = $("signin-error");
  p.textContent = message;
  show(p, true);
}

// ---------------------------------------------------------------- views

function show(node, visible) {
  node.hidden = !visible;
}

function notice(message, isError) {
  const p = $("notice");
  p.textContent = message;
  p.className = isError ? "error" : "";
  show(p, Boolean(message));
}

function report(e) {
  notice(e instanceof Error ? e.message : String(e), true);
}

function view(name) {
  for (const v of ["signin", "status", "buckets", "objects"]) show($("view-" + v), v === name);
  for (const v of ["status", "buckets"]) $("nav-" + v).classList.toggle("current", v === name);
  show($("nav"), Boolean(session));
  show($("who"), Boolean(session));
  $("who-key").textContent = session ? session.accessKey : "";
  document.body.dataset.view = name;
  if (name !== "status") clearInterval(statusTimer);
}

// #/status, #/buckets, #/b/BUCKET/PREFIX (each part URI-encoded).
function route() {
  if (!session) {
    view("signin");
    return;
  }
  const hash = location.hash.replace(/^#\/?/, "");
  const parts = hash.split("/");
  if (parts[0] === "status") return showStatus();
  if (parts[0] === "b" && parts[1]) {
    return showObjects(decodeURIComponent(parts[1]), decodeURIComponent(parts.slice(2).join("/")));
  }
  return showBuckets();
}

function bucketHash(bucket, prefix) {
  return "#/b/" + encodeURIComponent(bucket) + "/" + encodeURIComponent(prefix || "");
}

// ---------------------------------------------------------------- status

function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function duration(s) {
  if (s == null) return "–";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
}

function definitions(dl, rows) {
  dl.replaceChildren();
  for (const [k, v] of rows) {
    dl.append(el("dt", k), el("dd", v));
  }
}

function showStatus() {
  view("status");
  clearInterval(statusTimer);
  refreshStatus();
  statusTimer = setInterval(refreshStatus, STATUS_REFRESH_MS);
}

async function refreshStatus() {
  if (!session) return;
  let resp;
  try {
    const headers = await authorize("GET", "/api/status", {}, EMPTY_SHA256);
    resp = await fetch("/api/status", {headers, cache: "no-store", credentials: "omit"});
  } catch (e) {
    return statusError(String(e));
  }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    clearInterval(statusTimer);
    return statusError(resp.status === 403 && body.code === "AccessDenied"
      ? "The server's status is for administrators' keys; this key is a user's."
      : `${body.code || "HTTP " + resp.status}: ${body.message || ""}`);
  }
  show($("status-error"), false);
  show($("status-body"), true);
  $("st-uptime").textContent = duration(body.uptime_seconds);
  $("st-requests").textContent = String(body.requests_total);
  $("st-errors").textContent = String(body.errors_total);
  $("st-bytes-in").textContent = bytes(body.bytes_in);
  $("st-bytes-out").textContent = bytes(body.bytes_out);
  $("st-uploads").textContent = body.multipart_uploads == null ? "–" : String(body.multipart_uploads);
  $("st-index").textContent = bytes(body.index_bytes);
  const wb = body.write_back;
  definitions($("st-writeback"), wb == null ? [["", "none: uploads go straight to the remote (the write cache needs --vfs-cache-mode writes or full)"]] : wb.error ? [["error", wb.error]] : [
    ["waiting", String(wb.waiting)],
    ["bytes", bytes(wb.bytes)],
    ["oldest", duration(wb.oldest_seconds)],
    ["failing now", String(wb.failing)],
    ["failures since start", String(wb.failures_total)],
    ["uploaded since start", String(wb.uploaded_total)],
    ["last error", wb.last_error || "–"],
  ]);
  const rc = body.read_cache;
  definitions($("st-readcache"), rc == null ? [["", "none: reads come from the remote (the read cache needs --vfs-cache-mode full)"]] : [
    ["size", bytes(rc.bytes)],
    ["in memory", bytes(rc.memory_bytes)],
    ["hit rate", rc.hit_rate == null ? "–" : (rc.hit_rate * 100).toFixed(1) + " %"],
    ["hits / misses", `${rc.hits} / ${rc.misses}`],
    ["evictions", String(rc.evictions)],
  ]);
  chart(body.rates, body.interval_seconds);
}

function statusError(message) {
  show($("status-body"), false);
  const p = $("status-error");
  p.textContent = message;
  show(p, true);
}

// Two lines over the sampled rates, scaled to the highest.
function chart(rates, interval) {
  const svg = $("st-chart");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const W = 600, H = 160, slots = 120;
  const peak = Math.max(1, ...rates.map((r) => Math.max(r.requests_per_second, r.errors_per_second)));
  const axis = document.createElementNS(ns, "line");
  for (const [k, v] of Object.entries({x1: 0, y1: H - 1, x2: W, y2: H - 1, class: "axis"})) axis.setAttribute(k, v);
  svg.append(axis);
  for (const [field, cls] of [["requests_per_second", "requests"], ["errors_per_second", "errors"]]) {
    const line = document.createElementNS(ns, "polyline");
    const start = slots - rates.length;
    const points = rates.map((r, i) => `${((start + i) / (slots - 1)) * W},${H - 2 - (r[field] / peak) * (H - 6)}`);
    line.setAttribute("points", points.join(" "));
    line.setAttribute("class", cls);
    svg.append(line);
  }
  $("st-peak").textContent = `(peak ${peak.toFixed(2)}/s; one point per ${interval}s over the last ${slots * interval / 60} minutes)`;
}

// ---------------------------------------------------------------- buckets

async function showBuckets() {
  view("buckets");
  const rows = $("bucket-rows");
  try {
    const doc = await s3Xml("GET", "", null);
    rows.replaceChildren();
    const buckets = Array.from(doc.getElementsByTagName("Bucket"));
    show($("bucket-empty"), buckets.length === 0);
    for (const b of buckets) {
      const name = text(b, "Name");
      const tr = el("tr", null, {"data-bucket": name});
      const link = el("a", name, {href: bucketHash(name, "")});
      const td = el("td");
      td.append(link);
      const actions = el("td");
      actions.append(button("Delete", () => deleteBucket(name), {class: "danger"}));
      tr.append(td, el("td", text(b, "CreationDate")), actions);
      rows.append(tr);
    }
  } catch (e) {
    report(e);
  }
}

async function createBucket(ev) {
  ev.preventDefault();
  const name = $("bucket-name").value.trim();
  try {
    await s3("PUT", name, null);
    $("bucket-name").value = "";
    notice(`Bucket ${name} created.`);
    showBuckets();
  } catch (e) {
    report(e);
  }
}

async function deleteBucket(name) {
  if (!confirm(`Delete the bucket ${name}? It must be empty.`)) return;
  try {
    await s3("DELETE", name, null);
    notice(`Bucket ${name} deleted.`);
    showBuckets();
  } catch (e) {
    report(e);
  }
}

// ---------------------------------------------------------------- objects

function showObjects(bucket, prefix) {
  view("objects");
  show($("details"), false);
  $("obj-title").textContent = bucket;
  const crumbs = $("crumbs");
  crumbs.replaceChildren(el("a", "buckets", {href: "#/buckets"}), document.createTextNode(" / "),
    el("a", bucket, {href: bucketHash(bucket, "")}));
  let acc = "";
  for (const part of prefix.split("/").filter(Boolean)) {
    acc += part + "/";
    crumbs.append(document.createTextNode(" / "), el("a", part, {href: bucketHash(bucket, acc)}));
  }
  listing = {bucket, prefix, token: null};
  $("obj-rows").replaceChildren();
  loadPage();
}

// One page of the listing (folders from the delimiter), appended to the table.
async function loadPage() {
  const {bucket, prefix, token} = listing;
  const query = {"list-type": "2", delimiter: "/", prefix, "max-keys": String(PAGE_KEYS)};
  if (token) query["continuation-token"] = token;
  let doc;
  try {
    doc = await s3Xml("GET", bucket, null, {query});
  } catch (e) {
    return report(e);
  }
  if (!listing || listing.bucket !== bucket || listing.prefix !== prefix) return;
  const rows = $("obj-rows");
  const root = doc.documentElement;
  for (const cp of children(root, "CommonPrefixes")) {
    const p = text(cp, "Prefix");
    const tr = el("tr", null, {"data-prefix": p, class: "folder"});
    const td = el("td");
    td.append(el("a", p.slice(prefix.length), {href: bucketHash(bucket, p)}));
    tr.append(td, el("td", "folder"), el("td", ""), el("td", ""));
    rows.append(tr);
  }
  for (const c of children(root, "Contents")) {
    const key = text(c, "Key");
    const size = Number(text(c, "Size"));
    const tr = el("tr", null, {"data-key": key});
    const name = el("td");
    name.append(button(key.slice(prefix.length) || key, () => details(bucket, key), {class: "link"}));
    const actions = el("td");
    actions.append(
      button("Download", () => download(bucket, key), {class: "download"}),
      button("Delete", () => deleteObject(bucket, key), {class: "danger"}));
    tr.append(name, el("td", bytes(size), {title: String(size)}), el("td", text(c, "LastModified")), actions);
    rows.append(tr);
  }
  listing.token = text(root, "IsTruncated") === "true" ? text(root, "NextContinuationToken") : null;
  show($("obj-more"), Boolean(listing.token));
  show($("obj-empty"), rows.children.length === 0);
}

async function download(bucket, key, versionId) {
  const name = key.split("/").pop() || "download";
  // RFC 6266's filename*: any name, in ASCII on the wire.
  const query = {"response-content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(name)}`};
  if (versionId) query.versionId = versionId;
  const a = el("a", null, {href: await presign("GET", s3Path(bucket, key), query), download: name});
  document.body.append(a);
  a.click();
  a.remove();
}

async function deleteObject(bucket, key) {
  if (!confirm(`Delete ${key}?`)) return;
  try {
    await s3("DELETE", bucket, key);
    notice(`${key} deleted.`);
    showObjects(bucket, listing ? listing.prefix : "");
  } catch (e) {
    report(e);
  }
}

// Metadata (HeadObject), tags and versions of one object.
async function details(bucket, key) {
  show($("details"), true);
  $("details-title").textContent = key;
  const meta = $("details-meta"), tags = $("details-tags"), versions = $("details-versions");
  meta.replaceChildren();
  tags.replaceChildren();
  versions.replaceChildren();
  try {
    const head = await s3("HEAD", bucket, key);
    const rows = [];
    for (const name of ["content-type", "content-length", "etag", "last-modified", "cache-control",
      "content-encoding", "content-disposition", "x-amz-version-id", "x-amz-storage-class"]) {
      const v = head.headers.get(name);
      if (v !== null) rows.push([name, v]);
    }
    for (const [name, v] of head.headers) {
      if (name.startsWith("x-amz-meta-")) rows.push([name, v]);
    }
    definitions(meta, rows);
  } catch (e) {
    definitions(meta, [["error", e.message]]);
  }
  try {
    const doc = await s3Xml("GET", bucket, key, {query: {tagging: ""}});
    const set = Array.from(doc.getElementsByTagName("Tag")).map((t) => [text(t, "Key"), text(t, "Value")]);
    definitions(tags, set.length ? set : [["", "none"]]);
  } catch (e) {
    definitions(tags, [["error", e.message]]);
  }
  try {
    const doc = await s3Xml("GET", bucket, null, {query: {versions: "", prefix: key, "max-keys": "100"}});
    for (const v of Array.from(doc.documentElement.children)) {
      if ((v.localName !== "Version" && v.localName !== "DeleteMarker") || text(v, "Key") !== key) continue;
      const id = text(v, "VersionId");
      const marker = v.localName === "DeleteMarker";
      const current = text(v, "IsLatest") === "true" ? " (current)" : "";
      const actions = el("td");
      if (!marker) actions.append(button("Download", () => download(bucket, key, id === "null" ? null : id)));
      versions.append(rowOf([id + current, marker ? "delete marker" : bytes(Number(text(v, "Size"))), text(v, "LastModified")], actions));
    }
  } catch (e) {
    versions.append(rowOf([e.message, "", ""], el("td")));
  }
}

function rowOf(cells, last) {
  const tr = el("tr");
  for (const c of cells) tr.append(el("td", c));
  tr.append(last);
  return tr;
}

// ---------------------------------------------------------------- uploads

function uploadAll(files) {
  if (!listing) return;
  const {bucket, prefix} = listing;
  return Promise.all(Array.from(files).map((f) => upload(bucket, prefix + f.name, f)));
}

// One file: a presigned PUT, or a multipart upload whose parts go up by presigned URLs; a
// progress bar either way.
async function upload(bucket, key, file) {
  const item = el("li", null, {"data-key": key});
  const bar = el("progress", null, {max: String(file.size || 1), value: "0"});
  const label = el("span", `${key} (${bytes(file.size)})`);
  const state = el("span", "uploading", {class: "state"});
  item.append(label, bar, state);
  $("uploads").append(item);
  try {
    if (file.size >= MULTIPART_FROM) {
      await multipart(bucket, key, file, (n) => (bar.value = n));
    } else {
      await put(await presign("PUT", s3Path(bucket, key), {}), file, (n) => (bar.value = n));
    }
    bar.value = file.size || 1;
    state.textContent = "done";
    item.classList.add("done");
    if (listing && listing.bucket === bucket) showObjects(bucket, listing.prefix);
  } catch (e) {
    state.textContent = "failed: " + e.message;
    item.classList.add("failed");
  }
}

// A PUT with upload progress (fetch reports none); resolves to the answer's ETag.
function put(url, blob, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.onprogress = (ev) => progress(ev.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr.getResponseHeader("ETag"));
      const doc = new DOMParser().parseFromString(xhr.responseText || "<x/>", "application/xml");
      reject(new S3Failure(xhr.status, text(doc, "Code") || `HTTP ${xhr.status}`, text(doc, "Message")));
    };
    xhr.onerror = () => reject(new Error("the upload was cut off"));
    xhr.send(blob);
  });
}

async function multipart(bucket, key, file, progress) {
  const created = await s3Xml("POST", bucket, key, {query: {uploads: ""}});
  const uploadId = text(created, "UploadId");
  const done = [];
  try {
    let sent = 0;
    for (let n = 1, at = 0; at < file.size; n++, at += PART_SIZE) {
      const part = file.slice(at, Math.min(at + PART_SIZE, file.size));
      const url = await presign("PUT", s3Path(bucket, key), {partNumber: String(n), uploadId});
      const etag = await put(url, part, (loaded) => progress(sent + loaded));
      sent += part.size;
      done.push(`<Part><PartNumber>${n}</PartNumber><ETag>${etag}</ETag></Part>`);
    }
    const body = `<CompleteMultipartUpload>${done.join("")}</CompleteMultipartUpload>`;
    await s3Xml("POST", bucket, key, {query: {uploadId}, body});
  } catch (e) {
    await s3("DELETE", bucket, key, {query: {uploadId}}).catch(() => {});
    throw e;
  }
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  $("bucket-form").addEventListener("submit", createBucket);
  $("obj-more").addEventListener("click", loadPage);
  $("details-close").addEventListener("click", () => show($("details"), false));
  $("file-input").addEventListener("change", (ev) => {
    uploadAll(ev.target.files);
    ev.target.value = "";
  });
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (ev) => {
      ev.preventDefault();
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    uploadAll(ev.dataTransfer.files);
  });
  for (const name of ["pointerdown", "keydown"]) document.addEventListener(name, touch);
  window.addEventListener("hashchange", () => {
    if (session) notice("");
    route();
  });
  route();
}

wire();
