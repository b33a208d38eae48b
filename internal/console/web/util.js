// Shared helpers: DOM building, the API client, formatting and the
// status line. Everything here is plain browser JavaScript.

const SVG_NS = "http://www.w3.org/2000/svg";

// h builds an HTML element. attrs may hold class, text, dataset, on<event>
// handlers and any other attribute; children may be strings, nodes,
// arrays of either, or null (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

// s builds an SVG element the same way.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

function applyAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value" && "value" in el) el.value = v;
    else if (k === "checked" || k === "selected" || k === "disabled") el[k] = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// The signed-in session and the detector in use.
export const state = { session: null, detectorId: null, detectors: [] };

export class ApiError extends Error {
  constructor(status, message, type) {
    super(message);
    this.status = status;
    this.type = type || "";
  }
}

// Listeners told when a request finds the session gone.
const expiredListeners = [];
export function onSessionExpired(fn) { expiredListeners.push(fn); }

// request sends a JSON request to the console's backend. Non-GET requests
// carry the CSRF token. It returns the parsed body, or null when empty.
export async function request(method, url, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && state.session && state.session.csrfToken) {
    headers["X-CSRF-Token"] = state.session.csrfToken;
  }
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, "The console could not reach the server: " + e.message);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const msg = (data && (data.message || data.Message)) || text.slice(0, 300) || res.statusText || ("HTTP " + res.status);
    const type = data && (data.__type || data.type);
    const err = new ApiError(res.status, msg, type);
    if (res.status === 401 && url.startsWith("/console/api")) {
      for (const fn of expiredListeners) fn(err);
    }
    throw err;
  }
  return data;
}

// api calls the GuardDuty REST API through the session.
export function api(method, path, body) {
  return request(method, "/console/api" + path, body);
}

// det returns the path of the detector in use, with a suffix.
export function det(suffix) {
  return "/detector/" + encodeURIComponent(state.detectorId) + (suffix || "");
}

// The severity bands GuardDuty names.
export const BANDS = [
  { name: "Low", cls: "sev-low", gte: 1, lt: 4 },
  { name: "Medium", cls: "sev-medium", gte: 4, lt: 7 },
  { name: "High", cls: "sev-high", gte: 7, lt: 9 },
  { name: "Critical", cls: "sev-critical", gte: 9, lt: 11 },
];

export function band(sev) {
  const n = Number(sev) || 0;
  for (let i = BANDS.length - 1; i >= 0; i--) if (n >= BANDS[i].gte) return BANDS[i];
  return BANDS[0];
}

// sevBadge is the severity as a coloured badge that also says its band.
export function sevBadge(sev) {
  const b = band(sev);
  const n = Number(sev);
  return h("span", { class: "badge " + b.cls, title: "Severity " + (isNaN(n) ? sev : n.toFixed(1)) },
    b.name + " " + (isNaN(n) ? "" : n.toFixed(1)));
}

export function fmtTime(v) {
  if (v === undefined || v === null || v === "") return "";
  let d;
  if (typeof v === "number") d = new Date(v < 1e11 ? v * 1000 : v);
  else d = new Date(v);
  if (isNaN(d.getTime())) return String(v);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:\d\dZ$/, "Z");
}

export function fmtNumber(n) {
  if (n === undefined || n === null || isNaN(n)) return "–";
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: 2 });
}

export function plural(n, one, many) {
  return fmtNumber(n) + " " + (n === 1 ? one : (many || one + "s"));
}

// status writes a message to the aria-live status region.
let statusTimer = 0;
export function status(msg, kind) {
  const el = document.getElementById("status");
  if (!el) return;
  el.textContent = msg || "";
  el.className = "status" + (kind ? " status-" + kind : "") + (msg ? " visible" : "");
  clearTimeout(statusTimer);
  if (msg && kind !== "error") statusTimer = setTimeout(() => { el.textContent = ""; el.className = "status"; }, 6000);
}

export function errorText(e) {
  return e && e.message ? e.message : String(e);
}

// download saves data as a JSON file through an object URL.
export function downloadJSON(name, data) {
  const blob = new Blob([JSON.stringify(data, null, 2) + "\n"], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Fall back on a hidden text area where the clipboard API is not
    // available (plain HTTP).
    const ta = h("textarea", { class: "offscreen", readonly: true });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    ta.remove();
    return ok;
  }
}

// get reads a dotted path from an object, looking into the first element
// of arrays on the way.
export function get(obj, path) {
  let v = obj;
  for (const part of path.split(".")) {
    if (v === null || v === undefined) return undefined;
    if (Array.isArray(v)) v = v[0];
    if (v === null || v === undefined) return undefined;
    v = v[part];
  }
  return v;
}

// explanation parses the picket explanation in additionalInfo.
export function explanation(f) {
  const ai = f && f.service && f.service.additionalInfo;
  if (!ai || typeof ai.value !== "string") return null;
  try {
    const v = JSON.parse(ai.value);
    return v && typeof v === "object" ? v : null;
  } catch {
    return null;
  }
}

// remoteOf returns the remote address of a finding, whatever its action.
export function remoteOf(f) {
  const a = (f.service && f.service.action) || {};
  return get(a, "networkConnectionAction.remoteIpDetails.ipAddressV4")
    || get(a, "awsApiCallAction.remoteIpDetails.ipAddressV4")
    || get(a, "portProbeAction.portProbeDetails.remoteIpDetails.ipAddressV4")
    || get(a, "kubernetesApiCallAction.remoteIpDetails.ipAddressV4")
    || get(a, "rdsLoginAttemptAction.remoteIpDetails.ipAddressV4")
    || get(a, "dnsRequestAction.domain")
    || "";
}

// principalOf returns the user or principal a finding names.
export function principalOf(f) {
  const k = f.resource && f.resource.accessKeyDetails;
  if (!k) return "";
  return k.userName || k.principalId || k.accessKeyId || "";
}

// resourceOf returns a short label for a finding's resource.
export function resourceOf(f) {
  const r = f.resource || {};
  const id = get(r, "instanceDetails.instanceId")
    || get(r, "instanceDetails.networkInterfaces.networkInterfaceId")
    || get(r, "instanceDetails.networkInterfaces.privateIpAddress")
    || get(r, "accessKeyDetails.userName")
    || get(r, "accessKeyDetails.accessKeyId")
    || get(r, "s3BucketDetails.name")
    || get(r, "eksClusterDetails.name")
    || get(r, "ecsClusterDetails.name")
    || "";
  return id ? (r.resourceType ? r.resourceType + " " + id : id) : (r.resourceType || "");
}

// dialog opens a modal dialog; Escape closes it (native <dialog>).
// A closed dialog with an id stays in the document (hidden) until the next
// one of that id opens, so that tests and scripts can see it closed; one
// without an id goes at once.
export function openDialog(dlg) {
  if (dlg.id) {
    const old = document.getElementById(dlg.id);
    if (old) old.remove();
  }
  document.body.append(dlg);
  dlg.addEventListener("close", () => { if (!dlg.id) dlg.remove(); });
  dlg.showModal();
  const first = dlg.querySelector("input, select, textarea, button");
  if (first) first.focus();
  return dlg;
}

export function confirmDialog(title, text, okLabel) {
  return new Promise((resolve) => {
    let ok = false;
    const dlg = h("dialog", { class: "dialog", "aria-labelledby": "confirm-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "confirm-title", text: title }),
        h("p", { text }),
        h("div", { class: "actions" },
          h("button", { type: "submit", value: "cancel", class: "btn" }, "Cancel"),
          h("button", { type: "submit", value: "ok", class: "btn btn-danger", onclick: () => { ok = true; } }, okLabel || "OK"))));
    dlg.addEventListener("close", () => resolve(ok));
    openDialog(dlg);
  });
}
