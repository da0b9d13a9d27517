// Facilities dashboard: devices with live presence, filters, and the active alarms (ack, and
// clear after a confirmation with a note), each type and severity in words.
// Admins also provision devices here: the one-time bundle is shown once and never again (the
// server keeps only the password's hash), and they re-key or revoke a device.
import { api, applyWords, errorText, esc, fmtDateTime, header, languageSwitch, lang, liveStream, requireLogin,
         showLiveStatus, t } from "./common.js";
import { acknowledgeAlarm, clearAlarm } from "./alarm-actions.js";
import { askNote } from "./note-dialog.js";
import { alarmName, severityName } from "./words-facilities.js";
import "./words-notify.js";
import "./words-alarm-rules.js";

const $ = (id) => document.getElementById(id);
let devices = new Map();   // device_id -> device
let alarms = [];           // active alarms
let inMaintenance = new Set();   // alarm ids raised inside a maintenance window (not notified)
let provisioned = [];      // provisioned devices (admin only), no secrets
const KINDS = ["kiosk", "face_gate", "door_lock", "queue_display"];

function options(select, values, labelOf) {
  const keep = select.value;
  select.innerHTML = `<option value="">${esc(t("fac.all"))}</option>` +
    values.map((v) => `<option value="${esc(v)}">${esc(labelOf(v))}</option>`).join("");
  select.value = values.includes(keep) ? keep : "";
}

function drawDevices() {
  const all = [...devices.values()];
  options($("f-kind"), [...new Set(all.map((d) => d.kind))].sort(), (k) => t(`kind.${k}`));
  options($("f-site"), [...new Set(all.map((d) => d.site))].sort(), (s) => s || "–");
  const kind = $("f-kind").value, site = $("f-site").value, alarm = $("f-alarm").value;
  const alarmed = new Set(alarms.map((a) => a.device_id));
  const shown = all.filter((d) => (!kind || d.kind === kind) && (!site || d.site === site)
    && (!alarm || (alarm === "yes") === alarmed.has(d.device_id)))
    .sort((a, b) => a.device_id.localeCompare(b.device_id));
  $("device-count").textContent = shown.length;
  $("devices").innerHTML = shown.map((d) => {
    const n = alarms.filter((a) => a.device_id === d.device_id).length;
    return `<tr data-device="${esc(d.device_id)}" data-online="${d.online}">
      <td><a href="device.html?id=${encodeURIComponent(d.device_id)}">${esc(d.device_id)}</a></td>
      <td>${esc(t(`kind.${d.kind}`))}</td><td>${esc(d.site)}</td>
      <td><span class="badge ${d.online ? "online" : "offline"}">${esc(t(d.online ? "fac.online" : "fac.offline"))}</span></td>
      <td>${esc(fmtDateTime(d.last_seen_ms))}</td><td>${n ? `<span class="badge major">${n}</span>` : ""}</td></tr>`;
  }).join("");
}

// An alarm raised by an alarm rule carries its message in both languages.
function ruleMessage(alarm) {
  const text = alarm.details?.message?.[lang() === "en" ? "en" : "zh-CN"];
  return typeof text === "string" ? `<div class="muted rule-message">${esc(text)}</div>` : "";
}

function drawAlarms() {
  $("alarms").innerHTML = alarms.length ? alarms.map((a) => `<tr data-alarm="${a.id}" data-device="${esc(a.device_id)}">
    <td><a href="device.html?id=${encodeURIComponent(a.device_id)}">${esc(a.device_id)}</a></td>
    <td>${esc(alarmName(a.type))}${a.count > 1 ? ` ×${a.count}` : ""}${inMaintenance.has(a.id) ? ` <span class="badge maintenance">${esc(t("ntf.inMaintenance"))}</span>` : ""}${ruleMessage(a)}</td>
    <td><span class="badge ${esc(a.severity)}">${esc(severityName(a.severity))}</span></td>
    <td>${esc(fmtDateTime(a.raised_ms))}</td>
    <td class="alarm-actions">${a.acknowledged ? esc(t("fac.acked")) : `<button data-ack="${a.id}">${esc(t("fac.ack"))}</button>`}
        <button data-clear="${a.id}">${esc(t("fac.clear"))}</button>
        <a href="alarm-history.html?id=${a.id}" class="history-link">${esc(t("fac.history"))}</a></td></tr>`).join("")
    : `<tr><td colspan="5" class="muted">${esc(t("fac.noalarms"))}</td></tr>`;
}

async function loadDevices() {
  devices = new Map((await api("/devices")).map((d) => [d.device_id, d]));
  drawDevices();
}

async function loadAlarms() {
  alarms = await api("/alarms?status=active");
  // Without the notify feature there is no such list: nothing is marked.
  const held = await api("/notify/alarms?status=maintenance&limit=500").catch(() => []);
  inMaintenance = new Set(held.map((h) => h.alarm_id));
  drawAlarms();
  drawDevices();
}

function drawProvisioned() {
  const kind = $("prov-kind");
  const keep = kind.value;
  kind.innerHTML = KINDS.map((k) => `<option value="${k}">${esc(t(`kind.${k}`))}</option>`).join("");
  kind.value = keep || KINDS[0];
  $("provisioned").innerHTML = provisioned.length ? provisioned.map((c) => `
    <tr data-provisioned="${esc(c.device_id)}" data-status="${esc(c.status)}">
      <td>${esc(c.device_id)}</td><td>${esc(t(`kind.${c.kind}`))}</td><td>${esc(c.site || "–")}</td>
      <td class="status">${esc(t(`prov.${c.status}`))}</td><td>${esc(fmtDateTime(c.created_ms))}</td>
      <td>${c.status === "active" ? `<button type="button" data-rekey="${esc(c.device_id)}">${esc(t("prov.rekey"))}</button>
        <button type="button" class="danger" data-revoke="${esc(c.device_id)}">${esc(t("prov.revoke"))}</button>` : ""}</td>
    </tr>`).join("") : `<tr><td colspan="6" class="muted">${esc(t("prov.none"))}</td></tr>`;
}

async function loadProvisioned() {
  provisioned = await api("/provisioning");
  drawProvisioned();
}

function showBundle(bundle) {
  $("bundle-text").textContent = bundle.toml;
  $("bundle").hidden = false;
}

function wireProvisioning() {
  $("provisioning").hidden = false;
  const message = $("prov-message");
  const form = $("provision-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    const data = new FormData(form);
    try {
      showBundle(await api("/provisioning", { method: "POST", body: {
        device_id: data.get("device_id"), kind: data.get("kind"), site: data.get("site") } }));
      form.reset();
      await loadProvisioned();
    } catch (error) {
      message.textContent = errorText(error);
    }
  });
  $("bundle-done").addEventListener("click", () => {
    $("bundle-text").textContent = "";  // gone from the page: it is not shown again
    $("bundle").hidden = true;
  });
  $("provisioned").addEventListener("click", async (event) => {
    const rekey = event.target.dataset.rekey, revoke = event.target.dataset.revoke;
    const id = rekey ?? revoke;
    if (!id) return;
    const action = rekey ? "prov.rekey" : "prov.revoke";
    const sure = await askNote({ title: t(action), text: t(`${action}.confirm`, { id }), confirm: t(action),
                                 withNote: false });
    if (sure === null) return;
    message.textContent = "";
    try {
      const answer = await api(`/provisioning/${encodeURIComponent(id)}/${rekey ? "rekey" : "revoke"}`,
                               { method: "POST" });
      if (rekey) showBundle(answer);
      await loadProvisioned();
    } catch (error) {
      message.textContent = errorText(error);
    }
  });
  loadProvisioned().catch((error) => { message.textContent = errorText(error); });
}

let alarmTimer = null;
function onEvent(name, data) {
  if (name === "hello" || name === "resync") {
    loadDevices().then(loadAlarms).catch(() => {});
  } else if (name === "device") {
    const known = devices.get(data.device_id);
    if (known) {
      known.online = data.online;
      known.offline_reason = data.offline_reason;
      known.last_seen_ms = data.at_ms ?? known.last_seen_ms;
      drawDevices();
    } else {
      loadDevices().catch(() => {});
    }
  } else if (name === "alarm") {
    clearTimeout(alarmTimer);
    alarmTimer = setTimeout(() => loadAlarms().catch(() => {}), 100);
  }
}

async function start() {
  header("fac.title", { live: true, logoutButton: true });
  let admin = false;
  languageSwitch(() => { drawDevices(); drawAlarms(); if (admin) drawProvisioned(); });
  const me = await requireLogin(["facilities"]);
  applyWords();
  admin = me.role === "admin";
  if (admin) wireProvisioning();
  for (const id of ["f-kind", "f-site", "f-alarm"]) $(id).addEventListener("change", drawDevices);
  $("alarms").addEventListener("click", async (event) => {
    const id = Number(event.target.dataset.ack ?? event.target.dataset.clear);
    const alarm = alarms.find((a) => a.id === id);
    if (!alarm) return;
    try {
      $("message").textContent = "";
      if (event.target.dataset.ack) await acknowledgeAlarm(alarm);
      else if (!(await clearAlarm(alarm))) return;
      await loadAlarms();
    } catch (error) {
      $("message").textContent = errorText(error);
    }
  });
  liveStream("/live/facilities", { auth: true, onStatus: showLiveStatus, onEvent });
}

start().catch((error) => { $("message").textContent = errorText(error); });
