// The console's entry point: theme, sign-in, the top bar and hash routing.

import { h, clear, state, request, api, status, errorText, onSessionExpired } from "./util.js";
import { renderSummary } from "./summary.js";
import { renderFindings } from "./findings.js";
import { renderDetail } from "./detail.js";
import { renderRules } from "./rules.js";
import { renderLists } from "./lists.js";
import { renderDetectors } from "./detectors.js";

const $ = (id) => document.getElementById(id);

// ---- Theme -------------------------------------------------------------

const THEME_KEY = "picket.theme";

function preferredTheme() {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === "light" || saved === "dark") return saved;
  return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const btn = $("theme-toggle");
  if (btn) {
    btn.textContent = theme === "dark" ? "Light theme" : "Dark theme";
    btn.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
    btn.title = "Switch to the " + (theme === "dark" ? "light" : "dark") + " theme";
  }
}

// ---- Session -----------------------------------------------------------

function showSignin(message) {
  state.session = null;
  clearTimeout(expiryTimer);
  $("topbar").hidden = true;
  clear($("view"));
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  document.body.dataset.ready = "signin";
  const key = $("access-key");
  if (key && !key.value) key.focus();
}

// The sign-in page returns when the session's time is up.
let expiryTimer = 0;

async function afterSignin(session) {
  state.session = session;
  clearTimeout(expiryTimer);
  const left = Date.parse(session.expiresAt || "") - Date.now();
  if (left > 0 && left < 2147483647) {
    expiryTimer = setTimeout(() => showSignin("Your session has ended. Sign in again."), left + 1000);
  }
  $("signin").hidden = true;
  $("topbar").hidden = false;
  $("who-account").textContent = session.account ? "Account " + session.account : "";
  $("who-region").textContent = session.region || "";
  await loadDetectors();
  if (!location.hash || location.hash === "#" || location.hash === "#/") {
    location.hash = "#/summary";
  } else {
    route();
  }
}

// loadDetectors finds the detectors; the one in use is remembered.
export async function loadDetectors() {
  try {
    const out = await api("GET", "/detector");
    state.detectors = (out && out.detectorIds) || [];
  } catch (e) {
    state.detectors = [];
    status("Could not list detectors: " + errorText(e), "error");
  }
  const saved = localStorage.getItem("picket.detector");
  state.detectorId = state.detectors.includes(saved) ? saved : (state.detectors[0] || null);
  const pick = $("detector-pick");
  const sel = $("detector-select");
  clear(sel);
  for (const id of state.detectors) sel.append(h("option", { value: id }, "Detector " + id.slice(0, 12)));
  sel.value = state.detectorId || "";
  pick.hidden = state.detectors.length < 2;
}

async function signin(ev) {
  ev.preventDefault();
  const btn = $("signin-submit");
  const err = $("signin-error");
  err.textContent = "";
  const body = {
    accessKeyId: $("access-key").value.trim(),
    secretAccessKey: $("secret-key").value,
    region: $("region").value.trim() || "us-east-1",
  };
  if (!body.accessKeyId || !body.secretAccessKey) {
    err.textContent = "Enter the access key ID and the secret access key.";
    return;
  }
  btn.disabled = true;
  try {
    const session = await request("POST", "/console/signin", body);
    $("secret-key").value = "";
    await afterSignin(session);
  } catch (e) {
    if (e.status === 401) {
      const msg = e.message || "";
      err.textContent = /wrong/i.test(msg) ? msg : "The access key ID or the secret access key is wrong." + (msg ? " (" + msg + ")" : "");
    } else {
      err.textContent = errorText(e);
    }
    $("secret-key").focus();
  } finally {
    btn.disabled = false;
  }
}

async function signout() {
  try {
    await request("POST", "/console/signout");
  } catch (e) {
    // The session may already be gone; the sign-in page follows anyway.
  }
  showSignin("");
  status("Signed out.");
}

// ---- Routing -----------------------------------------------------------

const pages = {
  summary: renderSummary,
  findings: renderFindings,
  rules: renderRules,
  lists: renderLists,
  detectors: renderDetectors,
};

let generation = 0;

// route renders the page the hash names. A render that a later one
// overtakes is ignored (ctx.current() turns false).
export async function route() {
  if (!state.session) return;
  const full = location.hash.replace(/^#\/?/, "");
  const q = full.indexOf("?");
  const hash = q < 0 ? full : full.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : full.slice(q + 1));
  const parts = hash.split("/").map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  let name = parts[0] || "summary";
  let render = pages[name];
  let arg = null;
  if (name === "findings" && parts[1]) {
    render = renderDetail;
    name = "finding";
    arg = parts.slice(1).join("/");
  }
  if (!render) {
    name = "summary";
    render = renderSummary;
  }
  for (const a of document.querySelectorAll(".nav a")) {
    const on = a.getAttribute("href") === "#/" + parts[0] || (parts[0] === "" && a.getAttribute("href") === "#/summary");
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const gen = ++generation;
  delete document.body.dataset.ready;
  // Dialogs belong to the page they were opened on.
  for (const d of document.querySelectorAll("body > dialog")) {
    if (d.open) d.close();
    d.remove();
  }
  const view = clear($("view"));
  const ctx = {
    view,
    arg,
    query,
    name,
    current: () => gen === generation,
    ready: () => { if (gen === generation) document.body.dataset.ready = name; },
    busy: () => { if (gen === generation) delete document.body.dataset.ready; },
  };
  if (!state.detectorId) {
    view.append(h("section", { class: "page" },
      h("h1", { text: "No detector" }),
      h("p", { text: "This account has no detector in this region. Create one with the API (CreateDetector), then reload." })));
    if (name === "detectors") await render(ctx); else ctx.ready();
    return;
  }
  try {
    await render(ctx);
  } catch (e) {
    if (!ctx.current()) return;
    view.append(h("p", { class: "error", role: "alert" }, "This page could not load: " + errorText(e)));
    status(errorText(e), "error");
  }
  ctx.ready();
}

// ---- Start -------------------------------------------------------------

async function start() {
  applyTheme(preferredTheme());
  $("theme-toggle").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem(THEME_KEY, next);
    applyTheme(next);
  });
  $("signin-form").addEventListener("submit", signin);
  $("signout").addEventListener("click", signout);
  $("detector-select").addEventListener("change", (ev) => {
    state.detectorId = ev.target.value;
    localStorage.setItem("picket.detector", state.detectorId);
    route();
  });
  window.addEventListener("hashchange", () => {
    route();
    $("main").focus({ preventScroll: true });
  });
  onSessionExpired(() => showSignin("Your session has ended. Sign in again."));
  try {
    const session = await request("GET", "/console/session");
    await afterSignin(session);
  } catch (e) {
    showSignin(e.status === 401 ? "" : errorText(e));
  }
}

// The theme is applied at once to avoid a flash of the wrong one.
applyTheme(preferredTheme());
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
