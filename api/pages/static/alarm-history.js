// Alarm history with its notifications: the alarms the notifier handled (newest first) and,
// for the chosen one (?id= in the address, so the dashboard can link here), every step —
// messages queued, escalations, holds for maintenance or flapping, digests, the stop — and
// each delivery with its attempts. Updated live when an alarm changes.
import { api, applyWords, errorText, esc, fmtDateTime, header, languageSwitch, liveStream, requireLogin,
  showLiveStatus, t } from "./common.js";
import { alarmType } from "./words-notify.js";

const $ = (id) => document.getElementById(id);
let tracks = [];
let chosen = Number(new URLSearchParams(location.search).get("id")) || null;
let detail = null;

function drawList() {
  $("alarms").innerHTML = tracks.map((a) => `<tr data-alarm="${a.alarm_id}" class="${a.alarm_id === chosen ? "chosen" : ""}">
    <td>${esc(fmtDateTime(a.raised_ms))}</td><td>${esc(a.device_id)}</td><td>${esc(alarmType(a.type))}</td>
    <td><span class="badge ${esc(a.severity)}">${esc(t(`ntf.sev.${a.severity}`))}</span></td>
    <td class="state">${esc(t(`ntf.track.${a.status}`))}</td></tr>`).join("")
    || `<tr><td colspan="5" class="muted">${esc(t("ntf.none"))}</td></tr>`;
}

function stepText(step) {
  const d = step.details ?? {};
  if (step.kind === "stopped") {
    const reason = d.reason === "cleared" ? "ntf.reason.cleared" : "ntf.reason.acknowledged";
    return t("ntf.kind.stopped", { reason: t(reason, { by: d.by || "-" }) });
  }
  const text = t(`ntf.kind.${step.kind}`, { level: step.level, reason: d.reason ?? "", recent: d.recent ?? "", s: d.grace_s ?? "" });
  if (step.kind === "notified" || step.kind === "digested") {
    return `${text}: ${step.recipient ?? "-"} · ${t(`ntf.ch.${step.channel}`)}`;
  }
  return text;
}

function drawDetail() {
  if (!detail) return;
  const a = detail.alarm;
  $("choose").hidden = true;
  $("alarm").hidden = false;
  $("alarm-title").textContent = `${alarmType(a.type)} — ${a.device_id}`;
  const state = [t(`ntf.sev.${a.severity}`), t(a.status === "active" ? "ntf.active" : "ntf.cleared")];
  if (a.acknowledged) state.push(`${t("ntf.acked")} (${a.acked_by ?? ""})`);
  if (detail.in_maintenance) state.push(t("ntf.inMaintenance"));
  const track = detail.track;
  state.push(track ? t(`ntf.track.${track.status}`) : t("ntf.track.none"));
  if (track?.next_step_ms) state.push(`${t("ntf.nextStep")}: ${fmtDateTime(track.next_step_ms)}`);
  $("alarm-facts").textContent = `${t("ntf.raised")}: ${fmtDateTime(a.raised_ms)} · ${state.join(" · ")}`;
  $("steps").innerHTML = detail.history.map((s) => `<li class="${esc(s.kind)}" data-kind="${esc(s.kind)}">
    <time>${esc(fmtDateTime(s.at_ms))}</time>${esc(stepText(s))}</li>`).join("")
    || `<li class="muted">${esc(t("ntf.none"))}</li>`;
  $("deliveries").innerHTML = detail.deliveries.map((d) => `<tr data-delivery="${d.id}">
    <td>${esc(fmtDateTime(d.created_ms))}</td><td>${esc(t(`ntf.ch.${d.channel}`))}</td>
    <td class="wrap">${esc(d.address)}</td><td class="state">${esc(t(`ntf.dl.${d.status}`))}</td>
    <td>${d.attempts}</td><td class="wrap">${esc(d.last_error)}</td></tr>`).join("")
    || `<tr><td colspan="6" class="muted">${esc(t("ntf.none"))}</td></tr>`;
}

async function loadList() {
  tracks = await api("/notify/alarms?limit=200");
  drawList();
}

async function loadDetail() {
  if (!chosen) return;
  try {
    detail = await api(`/notify/alarms/${chosen}`);
    $("message").textContent = "";
    drawDetail();
  } catch (error) {
    $("message").textContent = errorText(error);
  }
}

function redraw() {
  drawList();
  drawDetail();
}

async function start() {
  header("ntf.history.title", { live: true, logoutButton: true });
  languageSwitch(redraw);
  await requireLogin(["facilities"]);
  applyWords();
  $("alarms").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-alarm]");
    if (!row) return;
    chosen = Number(row.dataset.alarm);
    history.replaceState(null, "", `?id=${chosen}`);
    drawList();
    loadDetail();
  });
  await Promise.all([loadList(), loadDetail()]);
  let timer = null;
  liveStream("/live/facilities", {
    auth: true, onStatus: showLiveStatus,
    onEvent: (name) => {
      if (name !== "alarm" && name !== "hello") return;
      // The notifier writes its steps just after the alarm changes: read a moment later.
      clearTimeout(timer);
      timer = setTimeout(() => { loadList().catch(() => {}); loadDetail(); }, 400);
    },
  });
  // Escalations change no alarm (no live notice): look again while one may be coming.
  setInterval(() => {
    if (detail?.track?.status === "notifying") loadDetail();
  }, 5000);
}

start();
