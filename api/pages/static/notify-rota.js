// The on-call rota (weekly shifts, day overrides, who is on call now) and the maintenance
// windows that hold alarm notifications for a device or a site. Facilities staff edit both;
// the server checks every entry and answers a refusal with a code this page puts in words.
import { api, applyWords, esc, fmtDateTime, header, languageSwitch, requireLogin, t } from "./common.js";
import { hhmm, minuteOf, refusal } from "./words-notify.js";

const $ = (id) => document.getElementById(id);
let people = [];
let rota = { shifts: [], overrides: [], on_call_now: [] };
let windows = [];

const nameOf = (id) => people.find((p) => p.id === id)?.name ?? `#${id}`;
const site = (s) => (s ? esc(s) : esc(t("ntf.allSites")));

function draw() {
  $("oncall-now").textContent = rota.on_call_now.length
    ? rota.on_call_now.map((p) => p.name).join("、") : t("ntf.nobody");
  const options = people.filter((p) => p.active).map((p) => `<option value="${p.id}">${esc(p.name)}</option>`).join("");
  for (const select of document.querySelectorAll("select.people")) {
    const chosen = select.value;
    select.innerHTML = options;
    if (chosen) select.value = chosen;
  }
  const weekday = $("weekday"), chosenDay = weekday.value;
  weekday.innerHTML = [0, 1, 2, 3, 4, 5, 6].map((d) => `<option value="${d}">${esc(t(`ntf.day.${d}`))}</option>`).join("");
  if (chosenDay) weekday.value = chosenDay;
  const none = (n) => `<tr><td colspan="${n}" class="muted">${esc(t("ntf.none"))}</td></tr>`;
  $("shifts").innerHTML = rota.shifts.map((s) => `<tr data-shift="${s.id}">
    <td>${esc(t(`ntf.day.${s.weekday}`))}</td><td>${esc(hhmm(s.start_minute))}</td><td>${esc(hhmm(s.end_minute))}</td>
    <td>${esc(nameOf(s.recipient_id))}</td><td>${site(s.site)}</td>
    <td class="actions"><button type="button" class="danger delete">${esc(t("ntf.delete"))}</button></td></tr>`).join("") || none(6);
  $("overrides").innerHTML = rota.overrides.map((o) => `<tr data-override="${o.id}">
    <td>${esc(o.day)}</td><td>${esc(hhmm(o.start_minute))}</td><td>${esc(hhmm(o.end_minute))}</td>
    <td>${esc(nameOf(o.recipient_id))}</td><td>${site(o.site)}</td><td>${esc(o.note)}</td>
    <td class="actions"><button type="button" class="danger delete">${esc(t("ntf.delete"))}</button></td></tr>`).join("") || none(7);
  const now = Date.now();
  $("windows").innerHTML = windows.map((w) => {
    const state = w.ends_ms <= now ? "ended" : w.starts_ms > now ? "planned" : "running";
    return `<tr data-window="${w.id}" class="${state === "ended" ? "ended" : ""}">
      <td>${esc(w.device_id)}</td><td>${esc(w.site)}</td><td>${esc(fmtDateTime(w.starts_ms))}</td>
      <td>${esc(fmtDateTime(w.ends_ms))}</td><td class="wrap">${esc(w.reason)}</td>
      <td class="state">${esc(t(`ntf.${state}`))}</td><td>${esc(w.created_by)}</td>
      <td class="actions">${state === "ended" ? "" : `<button type="button" class="end">${esc(t("ntf.end"))}</button>`}</td></tr>`;
  }).join("") || none(8);
}

async function load() {
  [people, rota, windows] = await Promise.all([
    api("/notify/people"), api("/notify/rota"), api("/notify/maintenance")]);
  draw();
}

function form(id, messageId, build, path) {
  const element = $(id);
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    $(messageId).textContent = "";
    try {
      await api(path, { method: "POST", body: build(new FormData(element)) });
      await load();
    } catch (error) {
      $(messageId).textContent = refusal(error);
    }
  });
}

function span(data) {
  const start = minuteOf(data.get("start"));
  let end = minuteOf(data.get("end"));
  if (end <= start) end += 1440;   // a night shift runs past midnight
  return { start_minute: start, end_minute: end };
}

function wire() {
  form("shift-form", "shift-message", (d) => ({
    recipient_id: Number(d.get("recipient")), weekday: Number(d.get("weekday")), ...span(d),
    site: String(d.get("site")).trim() }), "/notify/rota/shifts");
  form("override-form", "override-message", (d) => {
    const { start_minute, end_minute } = span(d);
    return { recipient_id: Number(d.get("recipient")), day: d.get("day"), start_minute,
      end_minute: d.get("end") === "23:59" ? 1440 : end_minute,
      site: String(d.get("site")).trim(), note: String(d.get("note")).trim() };
  }, "/notify/rota/overrides");
  form("window-form", "window-message", (d) => ({
    device_id: String(d.get("device")).trim(), site: String(d.get("site")).trim(),
    starts_ms: new Date(d.get("start")).getTime(), ends_ms: new Date(d.get("end")).getTime(),
    reason: String(d.get("reason")).trim() }), "/notify/maintenance");
  document.querySelector("main").addEventListener("click", async (event) => {
    const row = event.target.closest("tr");
    if (!row || event.target.tagName !== "BUTTON") return;
    try {
      if (row.dataset.shift) await api(`/notify/rota/shifts/${row.dataset.shift}`, { method: "DELETE" });
      else if (row.dataset.override) await api(`/notify/rota/overrides/${row.dataset.override}`, { method: "DELETE" });
      else if (row.dataset.window) await api(`/notify/maintenance/${row.dataset.window}/end`, { method: "POST" });
      await load();
    } catch (error) {
      $("window-message").textContent = refusal(error);
    }
  });
}

function localInput(ms) {
  const d = new Date(ms - new Date().getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

async function start() {
  header("ntf.rota.title", { logoutButton: true });
  languageSwitch(draw);
  await requireLogin(["facilities"]);
  applyWords();
  const windowForm = $("window-form");
  windowForm.elements.start.value = localInput(Date.now());
  windowForm.elements.end.value = localInput(Date.now() + 2 * 3600_000);
  wire();
  await load();
}

start();
