// Statistics per service and day: waits (mean, p90), service level, no-show and one-trip rates.
import { api, applyWords, barChart, esc, fmtMinutes, fmtPct, header, languageSwitch, requireLogin,
         t } from "./common.js";

const $ = (id) => document.getElementById(id);
const isoDay = (date) => date.toLocaleDateString("sv");   // YYYY-MM-DD in local time
let report = null;
let trend = [];

function draw() {
  if (!report) return;
  $("rows").innerHTML = report.services.map((s) => `<tr data-service="${esc(s.service_code)}">
    <td>${esc(s.service_code)}</td><td>${s.tickets}</td><td>${s.served}</td>
    <td>${fmtMinutes(s.mean_wait_s)} ${esc(t("minutes"))}</td><td>${fmtMinutes(s.p90_wait_s)} ${esc(t("minutes"))}</td>
    <td>${fmtPct(s.service_level)}</td><td>${fmtPct(s.no_show_rate)}</td></tr>`).join("");
  $("one-trip").textContent = report.one_trip ? fmtPct(report.one_trip.rate) : "–";
  barChart($("waits-chart"), report.services.map((s) => ({
    label: s.service_code,
    values: [s.mean_wait_s == null ? null : s.mean_wait_s / 60, s.p90_wait_s == null ? null : s.p90_wait_s / 60],
  })), [t("stats.mean"), t("stats.p90")], { unit: t("minutes") });
  const codes = report.services.map((s) => s.service_code);
  barChart($("trend-chart"), trend.map((r) => ({
    label: r.day.slice(5),
    values: codes.map((c) => {
      const s = r.services.find((x) => x.service_code === c);
      return s?.mean_wait_s == null ? null : s.mean_wait_s / 60;
    }),
  })), codes, { unit: t("minutes") });
}

async function load() {
  const day = $("day").value;
  $("message").textContent = "";
  try {
    report = await api(`/stats/services?day=${day}`);
    const end = new Date(`${day}T12:00:00`);
    const days = [...Array(7).keys()].reverse().map((i) => isoDay(new Date(end.getTime() - i * 86400e3)));
    trend = await Promise.all(days.map((d) => api(`/stats/services?day=${d}`)));
    draw();
  } catch (error) {
    $("message").textContent = t("err.generic") + error.message;
  }
}

async function start() {
  header("stats.title", { logoutButton: true });
  languageSwitch(draw);
  await requireLogin(["admin"]);
  applyWords();
  $("day").value = isoDay(new Date());
  $("day").addEventListener("change", load);
  await load();
}

start();
