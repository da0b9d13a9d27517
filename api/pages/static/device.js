// One device: presence (live), latest values, a telemetry chart bucketed by the database,
// commands (reboot and unlock confirmed with a note, display brightness), the command history
// (the controller's own commands hidden unless asked for), alarms (cleared with a note), the
// door's audit. Every code (alarm type, command, state) is shown in words; JSON only folded.
import { ApiError, api, applyWords, errorText, esc, fmtDateTime, header, languageSwitch, liveStream,
         requireLogin, showLiveStatus, t } from "./common.js";
import { acknowledgeAlarm, clearAlarm } from "./alarm-actions.js";
import { defaultMetric, metricName, metricValue } from "./metrics.js";
import { askNote } from "./note-dialog.js";
import { telemetryChart } from "./telemetry-chart.js";
import { alarmName, commandName, commandStatusName, severityName, word } from "./words-facilities.js";

const $ = (id) => document.getElementById(id);
const deviceId = new URLSearchParams(location.search).get("id") || "";
const path = `/devices/${encodeURIComponent(deviceId)}`;
// Range → bucket width: 60, 288 and 168 points, so even a week draws fast.
const RANGES = { hour: [3600e3, 60], day: [86400e3, 300], week: [7 * 86400e3, 3600] };
const HISTORY_ROWS = 50;
let device = null;
let range = "hour";
let series = null;      // the chart's last answer, redrawn on a language switch
let history = [];
let audit = null;       // null: no audit for this device (the access feature is off)
let cleared = [];

// JSON for a person who wants the details: folded under one line, wrapped when opened.
function folded(value) {
  if (value == null || (typeof value === "object" && !Object.keys(value).length)) return "";
  return `<details><summary>${esc(t("dev.details"))}</summary><pre>${esc(JSON.stringify(value, null, 2))}</pre></details>`;
}

function drawDevice() {
  if (!device) return;
  $("device-title").textContent = device.device_id;
  $("device-state").innerHTML = `<span class="badge ${device.online ? "online" : "offline"}" id="presence">
    ${esc(t(device.online ? "fac.online" : "fac.offline"))}</span>`;
  $("device-kind").textContent = [t(`kind.${device.kind}`), device.site, `${device.model} ${device.fw}`.trim()]
    .filter(Boolean).join(" · ");
  $("device-seen").textContent = `${t("fac.lastseen")}: ${fmtDateTime(device.last_seen_ms)}`;
  $("latest").innerHTML = Object.entries(device.latest).sort(([a], [b]) => byName(a, b))
    .map(([metric, v]) => `<tr data-metric="${esc(metric)}"><td>${esc(metricName(metric))}</td>
      <td><b>${esc(metricValue(metric, v.value))}</b></td><td class="muted when">${esc(fmtDateTime(v.ts_ms))}</td></tr>`).join("");
  $("device-alarms").innerHTML = device.active_alarms.map((a) => `<tr data-alarm="${a.id}">
      <td>${esc(alarmName(a.type))}${a.count > 1 ? ` ×${a.count}` : ""}</td>
      <td><span class="badge ${esc(a.severity)}">${esc(severityName(a.severity))}</span></td>
      <td class="when">${esc(fmtDateTime(a.raised_ms))}</td>
      <td class="alarm-actions">${a.acknowledged ? esc(t("fac.acked"))
        : `<button type="button" data-ack="${a.id}">${esc(t("fac.ack"))}</button>`}
        <button type="button" data-clear="${a.id}">${esc(t("fac.clear"))}</button></td></tr>`).join("")
    || `<tr><td class="muted">${esc(t("fac.noalarms"))}</td></tr>`;
  $("cmd-unlock").hidden = device.kind !== "door_lock";
  $("brightness-box").hidden = device.kind !== "queue_display";
  // The automatic commands are a display's (calls and waiting lists) and a gate's or lock's
  // (access rule syncs); the toggle shows them.
  $("auto-label").hidden = !["queue_display", "face_gate", "door_lock"].includes(device.kind);
  $("auto-label").title = t("dev.auto.hint");
  drawMetricChoice();
}

// Metrics by their names, the agent's own counter last (it says nothing about the device).
function byName(a, b) {
  const last = (m) => (m === "agent.telemetry_shed" ? 1 : 0);
  return last(a) - last(b) || metricName(a).localeCompare(metricName(b));
}

// Who sent a command or did what the audit says: a person by name ("user:ada" → "ada"), the
// controller or the device itself as "system".
function actorName(actor) {
  if (!actor) return "";
  if (actor === deviceId || actor === "system" || actor === "clerk-service" || actor.startsWith("system:")) {
    return t("dev.system");
  }
  return actor.replace(/^user:/, "");
}

function drawMetricChoice() {
  const numeric = Object.entries(device.latest).filter(([, v]) => typeof v.value === "number").map(([m]) => m);
  numeric.sort(byName);
  const select = $("metric");
  const keep = select.value;
  select.innerHTML = numeric.map((m) => `<option value="${esc(m)}">${esc(metricName(m))}</option>`).join("");
  select.value = numeric.includes(keep) ? keep : defaultMetric(device.kind, numeric);
}

function drawCleared() {
  $("cleared-alarms").innerHTML = cleared.map((a) => `<tr data-cleared="${a.id}">
      <td>${esc(alarmName(a.type))}</td>
      <td class="when">${esc(fmtDateTime(a.cleared_ms))}</td>
      <td>${esc(t(a.cleared_note ? "dev.clearedNote" : "dev.clearedBy",
                  { who: actorName(a.cleared_by), note: a.cleared_note }))}</td></tr>`).join("")
    || `<tr><td class="muted">${esc(t("fac.noalarms"))}</td></tr>`;
}

async function loadDevice() {
  device = await api(path);
  drawDevice();
}

async function loadCleared() {
  cleared = await api(`/alarms?device_id=${encodeURIComponent(deviceId)}&status=cleared&limit=10`);
  drawCleared();
}

function drawChart() {
  if (!series) return;
  const points = series.buckets.filter((b) => b.avg != null)
    .map((b) => ({ x: b.bucket_start_ms, avg: b.avg, min: b.min, max: b.max }));
  const svg = telemetryChart($("chart"), points, { from: series.from_ms, to: series.to_ms, metric: series.metric });
  svg.dataset.range = series.range;
  svg.dataset.renderMs = String(series.ms);   // for the tests' figures; never shown
}

async function loadChart() {
  for (const b of document.querySelectorAll("[data-range]")) b.classList.toggle("primary", b.dataset.range === range);
  const metric = $("metric").value;
  if (!metric) {
    series = { buckets: [], metric: "", range, ms: 0 };
    drawChart();
    return;
  }
  const [span, bucket] = RANGES[range];
  const started = performance.now();
  const to = Date.now();
  const answer = await api(`${path}/telemetry?metric=${encodeURIComponent(metric)}&from_ms=${Math.floor(to - span)}&to_ms=${to}&bucket_s=${bucket}`);
  series = { ...answer, range, ms: Math.round(performance.now() - started) };
  drawChart();
}

function drawHistory() {
  $("history").innerHTML = history.map((c) => `<tr data-command="${esc(c.command_id)}" data-method="${esc(c.method)}">
      <td class="when">${esc(fmtDateTime(c.created_ms))}</td>
      <td>${esc(commandName(c.method))}${c.automatic ? ` <span class="badge auto">${esc(t("dev.automatic"))}</span>` : ""}
        ${folded(c.params)}</td>
      <td>${esc(commandStatusName(c.status))}${folded(c.error ?? c.result)}</td>
      <td>${esc(actorName(c.requested_by))}</td>
      <td>${esc(c.note ?? c.params?.reason ?? "")}</td></tr>`).join("")
    || `<tr><td colspan="5" class="muted">${esc(t("dev.nohistory"))}</td></tr>`;
}

async function loadHistory() {
  const automatic = $("show-automatic").checked;
  history = await api(`${path}/commands?limit=${HISTORY_ROWS}&automatic=${automatic}`);
  drawHistory();
}

function auditAction(entry) {
  if (entry.category === "command") return commandName(entry.action);
  if (entry.category === "decision") return word("method", entry.action);
  return word("evt", entry.action);
}

function drawAudit() {
  if (audit === null) return;
  $("audit-card").hidden = false;
  $("audit").innerHTML = audit.map((e) => `<tr data-audit="${esc(e.id)}" data-action="${esc(e.action)}">
      <td class="when">${esc(fmtDateTime(e.ts))}</td><td>${esc(word("acat", e.category))}</td>
      <td>${esc(auditAction(e))}</td><td>${esc(word("out", e.outcome))}</td><td>${esc(e.person_id ?? "")}</td>
      <td>${esc(actorName(e.actor))}</td>
      <td>${esc(word("why", e.reason))} ${folded(e.details)}</td></tr>`).join("")
    || `<tr><td colspan="7" class="muted">${esc(t("dev.noaudit"))}</td></tr>`;
}

// Door locks and gates have an access audit (passages, door reports, their commands).
const AUDITED = ["door_lock", "face_gate"];

async function loadAudit() {
  if (!AUDITED.includes(device?.kind)) return;
  try {
    audit = (await api(`/access/audit?device_id=${encodeURIComponent(deviceId)}&limit=50`)).items;
    drawAudit();
  } catch (error) {
    // Without access control there is no audit API: the card stays hidden.
    if (!(error instanceof ApiError && error.status === 404)) say(errorText(error));
  }
}

// A line under the device's name: red for a refusal or failure, plain for what went through.
function say(text, ok = false) {
  $("message").textContent = text;
  $("message").classList.toggle("ok", ok);
}

async function command(method, params = {}, note = undefined) {
  try {
    say(t("dev.waiting", { what: commandName(method) }), true);
    const result = await api(`${path}/commands`, { method: "POST", body: { method, params, wait: true, note } });
    say(t("dev.sent", { what: commandName(method), status: commandStatusName(result.status) }),
        result.status === "succeeded");
  } catch (error) {
    say(errorText(error));
  }
  await loadHistory();
}

async function reboot() {
  const note = await askNote({ title: t("dev.reboot.title"), text: t("dev.reboot.text", { id: deviceId }),
                               confirm: t("dev.reboot") });
  if (note) await command("device.reboot", {}, note);
}

async function unlock() {
  // The note is the unlock's reason, kept in the door's audit trail.
  const reason = await askNote({ title: t("dev.unlock.title"), text: t("dev.unlock.text", { id: deviceId }),
                                 confirm: t("dev.unlock") });
  if (!reason) return;
  try {
    say(t("dev.waiting", { what: commandName("door.unlock") }), true);
    const result = await api(`/access/doors/${encodeURIComponent(deviceId)}/unlock`,
                             { method: "POST", body: { duration_s: 5, reason } });
    say(t("dev.sent", { what: commandName("door.unlock"), status: commandStatusName(result.status) }),
        result.status === "succeeded");
  } catch (error) {
    say(errorText(error));
  }
  await Promise.all([loadHistory(), loadAudit()]);
}

async function onAlarmButton(event) {
  const id = Number(event.target.dataset.ack ?? event.target.dataset.clear);
  const alarm = device?.active_alarms.find((a) => a.id === id);
  if (!alarm) return;
  try {
    say("");
    if (event.target.dataset.ack) await acknowledgeAlarm(alarm);
    else if (!(await clearAlarm(alarm))) return;
    await Promise.all([loadDevice(), loadCleared()]);
  } catch (error) {
    say(errorText(error));
  }
}

function redraw() {
  drawDevice();
  drawCleared();
  drawChart();
  drawHistory();
  drawAudit();
}

async function start() {
  header("fac.title", { live: true, logoutButton: true });
  languageSwitch(redraw);
  await requireLogin(["facilities"]);
  applyWords();
  await loadDevice();
  for (const b of document.querySelectorAll("[data-range]")) {
    b.addEventListener("click", () => { range = b.dataset.range; loadChart().catch((e) => say(errorText(e))); });
  }
  $("metric").addEventListener("change", () => loadChart().catch((e) => say(errorText(e))));
  $("show-automatic").addEventListener("change", () => loadHistory().catch((e) => say(errorText(e))));
  $("cmd-reboot").addEventListener("click", reboot);
  $("cmd-unlock").addEventListener("click", unlock);
  $("device-alarms").addEventListener("click", onAlarmButton);
  $("brightness").addEventListener("input", (e) => { $("brightness-value").textContent = e.target.value; });
  $("cmd-brightness").addEventListener("click", () =>
    command("display.set_brightness", { brightness: Number($("brightness").value) }));
  await Promise.all([loadChart(), loadHistory(), loadAudit(), loadCleared()]);
  liveStream("/live/facilities", {
    auth: true, onStatus: showLiveStatus,
    onEvent: (name, data) => {
      if (name === "hello" || name === "resync" || data.device_id === deviceId) {
        loadDevice().catch(() => {});
        if (name === "alarm") loadCleared().catch(() => {});
      }
    },
  });
}

start().catch((error) => say(errorText(error)));
