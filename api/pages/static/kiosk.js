// The touch kiosk: choose a service, identify (campus card or QR code, read by the kiosk's
// reader; optional), get the ticket with the estimated wait and the visitor's linked cases,
// print it. A typed person id is not offered: anybody could type anybody's. Authenticated as a
// kiosk device by its key; a refused key (revoked) brings the setup form back.
import { API, apiError, applyWords, errorText, esc, fmtDateTime, header, languageSwitch, t } from "./common.js";

const $ = (id) => document.getElementById(id);
const IDLE_MS = 30000;
let service = null;
let idType = "campus_card";
let idleTimer = null;

function credentials() {
  const device = localStorage.getItem("hall.kiosk.device");
  const key = localStorage.getItem("hall.kiosk.key");
  return device && key ? { device, key } : null;
}

async function kioskFetch(path, init = {}) {
  const c = credentials();
  const response = await fetch(API + path, {
    ...init,
    headers: { "Content-Type": "application/json", "X-Kiosk-Device": c?.device ?? "",
               "X-Kiosk-Key": c?.key ?? "", ...(init.headers || {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) show("setup");
  if (!response.ok) throw apiError(response.status, body);
  return body;
}

function show(step) {
  for (const id of ["setup", "step-service", "step-identify", "ticket"]) $(id).hidden = id !== step;
  clearTimeout(idleTimer);
  // A visitor who walks away leaves the next one a clean screen.
  if (step !== "step-service" && step !== "setup") idleTimer = setTimeout(reset, IDLE_MS);
}

function reset() {
  service = null;
  $("id-value").value = "";
  $("message").textContent = "";
  show("step-service");
}

async function loadServices() {
  const services = await kioskFetch("/kiosk/services");
  $("services").innerHTML = services.map((s) =>
    `<button type="button" data-service="${esc(s.code)}" data-name="${esc(s.name)}">${esc(s.name)}<br><small>${esc(s.prefix)}</small></button>`).join("");
  show("step-service");
}

async function take(withIdentity) {
  const value = $("id-value").value.trim();
  const body = { service: service.code, request_id: crypto.randomUUID() };
  if (withIdentity && value) body.identity = { type: idType, value };
  $("take").disabled = $("skip").disabled = true;
  try {
    const ticket = await kioskFetch("/kiosk/tickets", { method: "POST", body: JSON.stringify(body) });
    $("ticket-number").textContent = ticket.ticket;
    $("ticket-service").textContent = ticket.service_name;
    $("ticket-ahead").textContent = t("kiosk.ahead", { n: ticket.waiting_ahead });
    $("ticket-wait").textContent = t("kiosk.wait", { n: Math.max(1, Math.round(ticket.estimated_wait_s / 60)) });
    $("ticket-time").textContent = fmtDateTime(Date.now());
    $("ticket-cases").innerHTML = ticket.cases.length ? `<h3>${esc(t("kiosk.cases"))}</h3>` + ticket.cases.map((c) =>
      `<p>${esc(c.case_id)} · ${esc(t("kiosk.bring"))}${c.materials.filter((m) => !m.received).map((m) => esc(m.name)).join("、")}</p>`).join("") : "";
    $("message").textContent = "";
    show("ticket");
  } catch (error) {
    $("message").textContent = errorText(error);
  } finally {
    $("take").disabled = $("skip").disabled = false;
  }
}

function start() {
  header("kiosk.title");
  languageSwitch();
  applyWords();
  $("setup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    localStorage.setItem("hall.kiosk.device", String(form.get("device")).trim());
    localStorage.setItem("hall.kiosk.key", String(form.get("key")).trim());
    loadServices().catch((error) => { $("message").textContent = errorText(error); });
  });
  $("services").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-service]");
    if (!button) return;
    service = { code: button.dataset.service, name: button.dataset.name };
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
  $("print").addEventListener("click", () => window.print());
  $("again").addEventListener("click", reset);
  if (!credentials()) show("setup");
  else loadServices().catch((error) => { $("message").textContent = errorText(error); });
}

start();
