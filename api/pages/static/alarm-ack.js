// The page an acknowledgement link opens (no login: the signed token is the permission). It
// shows which alarm and asks to confirm, so a mail client's link preview acknowledges
// nothing; the token sits in the address's #fragment, which browsers never send to a server.
import { api, applyWords, esc, fmtDateTime, header, languageSwitch, t } from "./common.js";
import { alarmType, refusal } from "./words-notify.js";

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.hash.slice(1));
let alarm = null;
let outcome = null;   // [word key, vars], or the refusal (an ApiError)

function draw() {
  if (alarm) {
    $("summary").hidden = false;
    $("alarm").innerHTML = `<strong>${esc(alarmType(alarm.type))}</strong> — ${esc(alarm.device_id)}<br>
      <span class="badge ${esc(alarm.severity)}">${esc(t(`ntf.sev.${alarm.severity}`))}</span>
      ${esc(t("ntf.raised"))}: ${esc(fmtDateTime(alarm.raised_ms))}`;
    $("confirm").hidden = alarm.acknowledged;
  }
  if (Array.isArray(outcome)) $("result").textContent = t(outcome[0], outcome[1]);
  else if (outcome) $("result").textContent = refusal(outcome);
}

async function start() {
  header("ntf.ack.title");
  languageSwitch(draw);
  applyWords();
  if (!token) {
    outcome = ["ntf.err.invalid_link", {}];
  } else {
    try {
      alarm = await api("/notify/ack/preview", { method: "POST", body: { token } });
      if (alarm.acknowledged) outcome = ["ntf.ack.already", { by: alarm.acked_by ?? "" }];
    } catch (error) {
      outcome = error;
    }
  }
  draw();
  $("confirm").addEventListener("click", async () => {
    $("confirm").disabled = true;
    try {
      alarm = await api("/notify/ack", { method: "POST", body: { token } });
      outcome = ["ntf.ack.done", {}];
    } catch (error) {
      outcome = error;
      $("confirm").disabled = false;
    }
    draw();
  });
}

start();
