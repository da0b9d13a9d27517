// One device: presence (live), latest values, telemetry charts bucketed by the database,
// commands (reboot, unlock with confirmation, display brightness), history, alarms, audit.
import { ApiError, api, applyWords, errorText, esc, fmtDateTime, fmtValue, header, languageSwitch, lineChart, liveStream,
         requireLogin, showLiveStatus, t } from "./common.js";

const $ = (id) => document.getElementById(id);
const deviceId = new URLSearchParams(location.search).get("id") || "";
const path = `/devices/${encodeURIComponent(deviceId)}`;
// Range → bucket width: 60, 288 and 168 points, so even a week draws fast.
const RANGES = { hour: [3600e3, 60], day: [86400e3, 300], week: [7 * 86400e3, 3600] };
let device = null;
let range = "hour";

function drawDevice() {
  if (!device) return;
  $("device-title").textContent = device.device_id;
  $("device-state").innerHTML = `<span class="badge ${device.online ? "online" : "offline"}" id="presence">
    ${esc(t(device.online ? "fac.online" : "fac.offline"))}</span>`;
  $("device-kind").textContent = `${t(`kind.${device.kind}`)} · ${device.site} · ${device.model} ${device.fw}`;
  $("device-seen").textContent = `${t("fac.lastseen")}: ${fmtDateTime(device.last_seen_ms)}`;
  $("latest").innerHTML = Object.entries(device.latest).sort().map(([metric, v]) =>
    `<tr><td>${esc(metric)}</td><td><b>${esc(fmtValue(v.value))}</b></td><td class="muted">${esc(fmtDateTime(v.ts_ms))}</td></tr>`).join("");
  $("device-alarms").innerHTML = device.active_alarms.map((a) => `<tr><td>${esc(a.type)}</td>
    <td><span class="badge ${esc(a.severity)}">${esc(a.severity)}</span></td><td>${esc(fmtDateTime(a.raised_ms))}</td></tr>`).join("")
    || `<tr><td class="muted">${esc(t("fac.noalarms"))}</td></tr>`;
  $("cmd-unlock").hidden = device.kind !== "door_lock";
  $("brightness-box").hidden = device.kind !== "queue_display";
  const numeric = Object.entries(device.latest).filter(([, v]) => typeof v.value === "number").map(([m]) => m).sort();
  const select = $("metric");
  if (select.options.length !== numeric.length) {
    const keep = select.value;
    select.innerHTML = numeric.map((m) => `<option>${esc(m)}</option>`).join("");
    if (numeric.includes(keep)) select.value = keep;
  }
}

async function loadDevice() {
  device = await api(path);
  drawDevice();
}

async function loadChart() {
  const metric = $("metric").value;
  if (!metric) {
    lineChart($("chart"), []);
    return;
  }
  const [span, bucket] = RANGES[range];
  const started = performance.now();
  const to = Date.now();
  const series = await api(`${path}/telemetry?metric=${encodeURIComponent(metric)}&from_ms=${Math.floor(to - span)}&to_ms=${to}&bucket_s=${bucket}`);
  const points = series.buckets.filter((b) => b.avg != null)
    .map((b) => ({ x: b.bucket_start_ms, avg: b.avg, min: b.min, max: b.max }));
  const svg = lineChart($("chart"), points, { from: to - span, to, label: metric });
  const ms = Math.round(performance.now() - started);
  svg.dataset.range = range;
  svg.dataset.renderMs = String(ms);
  $("chart-note").textContent = `${metric} · ${points.length} × ${bucket}s · ${ms} ms`;
  for (const b of document.querySelectorAll("[data-range]")) b.classList.toggle("primary", b.dataset.range === range);
}

async function loadHistory() {
  const rows = await api(`${path}/commands?limit=50`);
  $("history").innerHTML = rows.map((c) => `<tr data-command="${esc(c.command_id)}"><td>${esc(fmtDateTime(c.created_ms))}</td>
    <td>${esc(c.method)} ${esc(Object.keys(c.params).length ? JSON.stringify(c.params) : "")}</td>
    <td>${esc(c.status)}</td><td>${esc(c.requested_by)}</td>
    <td class="muted">${esc(JSON.stringify(c.error ?? c.result ?? ""))}</td></tr>`).join("");
}

async function loadAudit() {
  try {
    const audit = await api(`/access/audit?device_id=${encodeURIComponent(deviceId)}&limit=50`);
    $("audit-card").hidden = false;
    $("audit").innerHTML = audit.items.map((e) => `<tr data-audit="${esc(e.id)}"><td>${esc(fmtDateTime(e.ts))}</td><td>${esc(e.category)}</td>
      <td>${esc(e.action)}</td><td>${esc(e.outcome)}</td><td>${esc(e.person_id ?? "")}</td><td>${esc(e.actor ?? "")}</td>
      <td class="muted">${esc(e.reason ?? "")} ${esc(e.details && Object.keys(e.details).length ? JSON.stringify(e.details) : "")}</td></tr>`).join("");
  } catch (error) {
    // The audit API arrives with the access-control work; until then the card stays hidden.
    if (!(error instanceof ApiError && error.status === 404)) $("message").textContent = errorText(error);
  }
}

async function command(method, params = {}) {
  try {
    $("message").textContent = "";
    const result = await api(`${path}/commands`, { method: "POST", body: { method, params, wait: true } });
    $("message").textContent = `${method}: ${result.status}`;
  } catch (error) {
    $("message").textContent = errorText(error);
  }
  await loadHistory();
}

async function start() {
  header("fac.title", { live: true, logoutButton: true });
  languageSwitch(() => { drawDevice(); loadChart(); });
  await requireLogin(["facilities"]);
  applyWords();
  await loadDevice();
  for (const b of document.querySelectorAll("[data-range]")) {
    b.addEventListener("click", () => { range = b.dataset.range; loadChart(); });
  }
  $("metric").addEventListener("change", loadChart);
  $("cmd-reboot").addEventListener("click", () => command("device.reboot"));
  $("cmd-unlock").addEventListener("click", async () => {
    // The confirmation asks why: the reason goes into the door's audit trail.
    const reason = prompt(t("dev.unlock.confirm", { id: deviceId }));
    if (!reason || !reason.trim()) return;
    try {
      $("message").textContent = "";
      const result = await api(`/access/doors/${encodeURIComponent(deviceId)}/unlock`,
                               { method: "POST", body: { duration_s: 5, reason: reason.trim() } });
      $("message").textContent = `door.unlock: ${result.status}`;
    } catch (error) {
      $("message").textContent = errorText(error);
    }
    await Promise.all([loadHistory(), loadAudit()]);
  });
  $("brightness").addEventListener("input", (e) => { $("brightness-value").textContent = e.target.value; });
  $("cmd-brightness").addEventListener("click", () =>
    command("display.set_brightness", { brightness: Number($("brightness").value) }));
  await Promise.all([loadChart(), loadHistory(), loadAudit()]);
  liveStream("/live/facilities", {
    auth: true, onStatus: showLiveStatus,
    onEvent: (name, data) => {
      if (name === "hello" || name === "resync" || data.device_id === deviceId) loadDevice().catch(() => {});
    },
  });
}

start().catch((error) => { $("message").textContent = errorText(error); });
