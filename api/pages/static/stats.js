// Statistics per service and day: waits (mean, p90), service level, no-show rate, the online
// cases in the hall (tickets linked to a case, pending materials) and the one-trip rate.
// Services are shown by name in the page's language, never by code.
import { api, applyWords, barChart, errorText, esc, fmtMinutes, formatWhen, fmtPct, header, languageSwitch, requireLogin,
         serviceName, t } from "./common.js";

const $ = (id) => document.getElementById(id);
const isoDay = (date) => date.toLocaleDateString("sv");   // YYYY-MM-DD in local time
const minutes = (seconds) => (seconds == null ? null : seconds / 60);
let report = null;
let trend = [];

function drawOneTrip() {
  const trips = report.one_trip;
  $("one-trip").textContent = trips ? fmtPct(trips.rate) : "–";
  $("one-trip-detail").textContent = !trips || !trips.resolved_with_visit ? t("stats.onetrip.none")
    : t("stats.onetrip.detail", { n: trips.resolved_with_visit, one: trips.one_visit,
                                  more: trips.resolved_with_visit - trips.one_visit });
  $("linked-total").textContent = report.services.reduce((n, s) => n + s.linked, 0);
  $("pending-total").textContent = report.services.reduce((n, s) => n + s.pending, 0);
}

function drawExplanations() {
  const targets = report.services.map((s) => `${serviceName(s)} ${fmtMinutes(s.target_wait_s)} ${t("minutes")}`)
    .join("，");
  $("explain").innerHTML = ["stats.explain.level", "stats.explain.p90", "stats.explain.noshow",
                            "stats.explain.onetrip"]
    .map((key) => `<li>${esc(t(key, { targets }))}</li>`).join("");
}

function draw() {
  if (!report) return;
  drawExplanations();
  // A day without tickets says so instead of drawing empty charts.
  const empty = report.services.every((s) => s.tickets === 0);
  $("empty").hidden = !empty;
  $("empty").textContent = empty ? t("stats.empty", { day: report.day }) : "";
  $("waits-card").hidden = empty;
  $("rows").innerHTML = report.services.map((s) => `<tr data-service="${esc(s.service_code)}">
    <td class="service-name">${esc(serviceName(s))}</td><td>${s.tickets}</td><td>${s.served}</td>
    <td>${fmtMinutes(s.mean_wait_s)} ${esc(t("minutes"))}</td><td>${fmtMinutes(s.p90_wait_s)} ${esc(t("minutes"))}</td>
    <td>${fmtPct(s.service_level)}</td><td>${fmtPct(s.no_show_rate)}</td>
    <td>${s.linked}</td><td>${s.pending}</td></tr>`).join("");
  drawOneTrip();
  if (!empty) {
    barChart($("waits-chart"), report.services.map((s) => ({
      label: serviceName(s), values: [minutes(s.mean_wait_s), minutes(s.p90_wait_s)],
      target: minutes(s.target_wait_s),
    })), [t("stats.mean"), t("stats.p90")],
    { valueLabel: t("chart.wait"), categoryLabel: t("chart.service"), unit: t("minutes"),
      targetLabel: t("stats.target") });
  }
  // The 7-day trend: one bar per service and day, services named as in the table.
  const services = report.services;
  barChart($("trend-chart"), trend.map((r) => ({
    label: formatWhen(Date.parse(`${r.day}T12:00:00`), "day"),
    values: services.map((s) => minutes(r.services.find((x) => x.service_code === s.service_code)?.mean_wait_s)),
  })), services.map(serviceName),
  { valueLabel: t("chart.meanwait"), categoryLabel: t("chart.day"), unit: t("minutes") });
}

// Without a day, the hall's current service day: the server's, since the browser may be in
// another timezone, or past midnight before the hall's rollover.
async function load() {
  const asked = $("day").value;
  $("message").textContent = "";
  try {
    report = await api(asked ? `/stats/services?day=${asked}` : "/stats/services");
    const day = report.day;
    $("day").value = day;
    const end = new Date(`${day}T12:00:00`);
    const days = [...Array(7).keys()].reverse().map((i) => isoDay(new Date(end.getTime() - i * 86400e3)));
    trend = await Promise.all(days.map((d) => api(`/stats/services?day=${d}`)));
    draw();
  } catch (error) {
    $("message").textContent = errorText(error);
  }
}

async function start() {
  header("stats.title", { logoutButton: true });
  languageSwitch(draw);
  await requireLogin(["admin"]);
  applyWords();
  // ?day=YYYY-MM-DD opens that day (a link to a day, the demo's replayed one); else the hall's
  // service day today.
  const asked = new URLSearchParams(location.search).get("day");
  $("day").value = /^\d{4}-\d{2}-\d{2}$/.test(asked ?? "") ? asked : "";
  $("day").addEventListener("change", load);
  await load();
}

start();
