// The touch kiosk: choose a service, identify (campus card or QR code, read by the kiosk's
// reader; optional), get the ticket with the estimated wait, the windows that serve it and the
// visitor's linked cases, print it. A typed person id is not offered: anybody could type
// anybody's. A card or code that names no one is said so, with the choice to go on without it.
//
// Set up once with a one-time pairing code an admin made on the users page: the kiosk trades
// it for its key (kept in localStorage). A refused key (revoked) brings the setup screen back.
// Visitors never see a server message or an API path: every refusal has its own words, and a
// lost connection shows the page's banner and the connection badge (checked every 30 s, every
// 3 s while away). After IDLE_MS without a touch the kiosk goes back to the start, in Chinese.
import { API, applyWords, esc, fmtDateTime, lang, languageSwitch, markOffline, serviceName, t } from "./common.js";
import "./words-kiosk.js";

const $ = (id) => document.getElementById(id);
// ?idle=<seconds> (5–600) changes it for one kiosk (and lets the tests wait less).
const IDLE_MS = Math.min(600, Math.max(5, Number(new URLSearchParams(location.search).get("idle")) || 60)) * 1000;
const CHECK_MS = 30000;
const RETRY_MS = 3000;
const STEPS = ["setup", "step-service", "step-identify", "ticket"];
// The API's error codes (docs/integration.md) a visitor may meet, in the kiosk's own words.
const MESSAGES = {
  "hall.closed": "kiosk.err.closed", "service.daily_cap": "kiosk.err.cap", "service.unknown": "kiosk.err.service",
  "store.unavailable": "kiosk.err.busy", unavailable: "kiosk.err.busy", "kiosk.throttled": "kiosk.err.throttled",
  offline: "kiosk.err.offline",
  "kiosk.pairing_code_unknown": "kiosk.pair.unknown", "kiosk.pairing_code_expired": "kiosk.pair.expired",
  "kiosk.pairing_code_used": "kiosk.pair.used", "kiosk.pairing_throttled": "kiosk.pair.throttled",
  invalid: "kiosk.pair.format",
};
let services = [];
let servicesFresh = false;   // read from the server since this page opened (else the kept copy)
let service = null;
let idType = "campus_card";
let idleTimer = null;
let checkTimer = null;
let lastTicket = null;
let message = null;   // {key, vars, info}: redrawn in the other language

class KioskError extends Error {
  constructor(code, vars = {}) {
    super(code);
    this.code = code;
    this.vars = vars;
  }
}

function credentials() {
  const device = localStorage.getItem("hall.kiosk.device");
  const key = localStorage.getItem("hall.kiosk.key");
  return device && key ? { device, key } : null;
}

function forget() {
  localStorage.removeItem("hall.kiosk.device");
  localStorage.removeItem("hall.kiosk.key");
  localStorage.removeItem("hall.kiosk.services");
}

// The stable code of a refusal (the API's ``code``), or "" from something that is not the API.
function errorCode(body) {
  return typeof body?.code === "string" ? body.code : "";
}

async function request(path, init = {}, withKey = true) {
  const c = withKey ? credentials() : null;
  const headers = { "Content-Type": "application/json", ...(init.headers || {}) };
  if (c) Object.assign(headers, { "X-Kiosk-Device": c.device, "X-Kiosk-Key": c.key });
  let response;
  try {
    response = await fetch(API + path, { ...init, headers, cache: "no-store" });
  } catch {
    connection(false);
    throw new KioskError("offline");
  }
  connection(true);
  const body = await response.json().catch(() => ({}));
  if (response.ok) return body;
  const code = errorCode(body);
  const retry = response.headers.get("Retry-After") ?? "60";
  if (response.status === 401 && withKey) {
    forget();
    show("setup");
    throw new KioskError("setup");
  }
  if (response.status === 429) throw new KioskError(code === "kiosk.pairing_throttled" ? code : "kiosk.throttled", { n: retry });
  if (response.status === 422) throw new KioskError("invalid");
  throw new KioskError(code || (response.status >= 500 ? "unavailable" : "unknown"));
}

function say(key, vars = {}, info = false) {
  const said = key ? { key, vars, info } : null;
  message = said;
  const box = $("message");
  box.hidden = !message;
  box.classList.toggle("info", info);
  box.textContent = message ? t(key, vars) : "";
  // Good news goes by itself; a refusal stays until the next step.
  if (info) setTimeout(() => { if (message === said) say(null); }, 8000);
}

function sayError(error) {
  if (error.code === "setup") return say("kiosk.pair.again");
  say(MESSAGES[error.code] ?? "kiosk.err.busy", error.vars);
}

function connection(ok) {
  const badge = $("connection");
  badge.dataset.state = ok ? "live" : "reconnecting";
  badge.dataset.i18n = ok ? "kiosk.online" : "kiosk.offline";
  badge.textContent = t(badge.dataset.i18n);
  markOffline(!ok);
  if (ok && message?.key === "kiosk.err.offline") say(null);
  else if (!ok && !message) say("kiosk.err.offline");   // a visitor reads why nothing works
}

// Checks in every 30 s (the device list shows the kiosk online while it does), every 3 s
// while the server is away; a kiosk not set up only asks whether the server is there.
async function check() {
  clearTimeout(checkTimer);
  let ok = true;
  try {
    if (credentials()) {
      await request("/kiosk/status");
      if (!servicesFresh) await loadServices();
    } else {
      await fetch(`${API}/health`, { cache: "no-store" }).then(() => connection(true), () => {
        connection(false);
        throw new KioskError("offline");
      });
    }
  } catch (error) {
    ok = error.code !== "offline";
    if (error.code === "setup") sayError(error);
  }
  checkTimer = setTimeout(check, ok ? CHECK_MS : RETRY_MS);
}

function show(step) {
  for (const id of STEPS) $(id).hidden = id !== step;
  if (step === "step-identify") {
    $("unknown-id").hidden = true;
    $("identify-actions").hidden = false;
  }
}

function current() {
  return STEPS.find((id) => !$(id).hidden);
}

// A visitor who walks away leaves the next one a clean screen, in Chinese.
function touched() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(idle, IDLE_MS);
}

function idle() {
  if (lang() !== "zh") {
    localStorage.setItem("hall.lang", "zh");
    redraw();
  }
  if (current() !== "setup") reset();
  touched();
}

function reset() {
  service = null;
  lastTicket = null;
  $("id-value").value = "";
  say(null);
  show(credentials() ? "step-service" : "setup");
}

function drawServices() {
  $("services").innerHTML = services.map((s) =>
    `<button type="button" data-service="${esc(s.code)}">${esc(serviceName(s))}<small>${esc(s.prefix)}</small></button>`).join("");
}

async function loadServices() {
  services = await request("/kiosk/services");
  // Kept, so that a kiosk reloaded during an outage still shows what it offers.
  localStorage.setItem("hall.kiosk.services", JSON.stringify(services));
  servicesFresh = true;
  drawServices();
  if (current() === "setup" || current() === undefined) show("step-service");
}

function drawTicket() {
  const ticket = lastTicket;
  if (!ticket) return;
  $("ticket-number").textContent = ticket.ticket;
  $("ticket-service").textContent = serviceName({ name: ticket.service_name, name_en: ticket.service_name_en, code: ticket.service });
  $("ticket-checked-in").hidden = !ticket.checked_in;
  $("ticket-ahead").textContent = t("kiosk.ahead", { n: ticket.waiting_ahead });
  $("ticket-wait").textContent = t("kiosk.wait", { n: Math.max(1, Math.round(ticket.estimated_wait_s / 60)) });
  const windows = ticket.windows.map((w) => t("window.number", { n: w.number })).join(lang() === "en" ? ", " : "、");
  $("ticket-windows").textContent = windows ? t("kiosk.windows", { windows }) : t("kiosk.windows.none");
  $("ticket-time").textContent = fmtDateTime(ticket.at);
  $("ticket-cases").innerHTML = ticket.cases.length ? `<h3>${esc(t("kiosk.cases"))}</h3>` + ticket.cases.map((c) =>
    `<p>${esc(c.case_id)} · ${esc(t("kiosk.bring"))}${c.materials.filter((m) => !m.received).map((m) => esc(m.name)).join("、")}</p>`).join("") : "";
}

async function take(withIdentity) {
  const value = $("id-value").value.trim();
  const body = { service: service.code, request_id: crypto.randomUUID() };
  if (withIdentity && value) body.identity = { type: idType, value };
  const buttons = document.querySelectorAll("#step-identify button");
  for (const b of buttons) b.disabled = true;
  try {
    lastTicket = { ...(await request("/kiosk/tickets", { method: "POST", body: JSON.stringify(body) })), at: Date.now() };
    say(null);
    drawTicket();
    show("ticket");
  } catch (error) {
    if (error.code === "identity.unknown") {
      // Not a ticket that looks identified and is not: the visitor decides.
      $("unknown-id").hidden = false;
      $("identify-actions").hidden = true;
      say(null);
    } else if (error.code === "invalid") {
      say("kiosk.err.read");   // what the reader typed is not a card number or a code
    } else {
      sayError(error);
    }
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

async function pair(event) {
  event.preventDefault();
  const code = String(new FormData(event.target).get("code")).trim();
  if (!/^[A-Za-z0-9 -]{8,32}$/.test(code)) return say("kiosk.pair.format");
  try {
    const paired = await request("/kiosk/pair", { method: "POST", body: JSON.stringify({ code }) }, false);
    localStorage.setItem("hall.kiosk.device", paired.device_id);
    localStorage.setItem("hall.kiosk.key", paired.kiosk_key);
    event.target.reset();
    say("kiosk.pair.done", { device: paired.device_id }, true);
    await loadServices();
    show("step-service");
  } catch (error) {
    sayError(error);
  }
}

function redraw() {
  applyWords();
  drawServices();
  drawTicket();
  if (message) say(message.key, message.vars, message.info);
  const badge = $("connection");
  badge.textContent = t(badge.dataset.i18n);
}

function start() {
  languageSwitch(redraw);
  applyWords();
  $("setup-form").addEventListener("submit", pair);
  $("services").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-service]");
    if (!button) return;
    service = services.find((s) => s.code === button.dataset.service);
    say(null);
    show("step-identify");
    $("id-value").focus();
  });
  $("idtypes").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-type]");
    if (!button) return;
    idType = button.dataset.type;
    for (const b of $("idtypes").children) b.setAttribute("aria-pressed", String(b === button));
    $("id-value").focus();
  });
  // Card readers and QR scanners type the code and press Enter.
  $("id-value").addEventListener("keydown", (event) => { if (event.key === "Enter") take(true); });
  $("take").addEventListener("click", () => take(true));
  $("skip").addEventListener("click", () => take(false));
  $("take-anyway").addEventListener("click", () => { $("id-value").value = ""; take(false); });
  $("retry-id").addEventListener("click", () => {
    $("id-value").value = "";
    show("step-identify");
    $("id-value").focus();
  });
  $("back").addEventListener("click", reset);
  $("print").addEventListener("click", () => window.print());
  $("again").addEventListener("click", reset);
  for (const kind of ["pointerdown", "keydown", "input"]) document.addEventListener(kind, touched, { capture: true });
  touched();
  show(credentials() ? "step-service" : "setup");
  if (credentials()) {
    try {
      services = JSON.parse(localStorage.getItem("hall.kiosk.services") ?? "[]");
      drawServices();
    } catch {
      services = [];
    }
  }
  check();   // and loads the services
  // The page opens from the service worker's copy when reloaded during an outage.
  navigator.serviceWorker?.register("pages-sw.js").catch((error) => console.warn("no offline copy", error));
}

start();
