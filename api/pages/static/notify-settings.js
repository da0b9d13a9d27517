// Recipients and channels (admin): who hears about alarms (role, sites, lowest severity, an
// address per channel), which channels the hall has configured (secrets stay in config.toml),
// a test message per recipient, and the delivery log.
import { api, applyWords, esc, fmtDateTime, header, languageSwitch, requireLogin, t } from "./common.js";
import { refusal } from "./words-notify.js";

const $ = (id) => document.getElementById(id);
const CHANNELS = ["email", "wecom", "dingtalk", "sms", "webhook"];
const ROLES = ["oncall", "watcher", "supervisor", "facilities_manager"];
const SEVERITIES = ["warning", "minor", "major", "critical"];
let recipients = [];
let config = null;
let log = [];

function say(text, ok = false) {
  $("message").textContent = text;
  $("message").classList.toggle("ok", ok);
}

function drawChannels() {
  if (!config) return;
  const configured = CHANNELS.map((c) => `${t(`ntf.ch.${c}`)}: ${config.configured.includes(c) ? "✓" : t("ntf.notConfigured")}`);
  const escalation = SEVERITIES.slice().reverse().map((s) => `${t(`ntf.sev.${s}`)} ${config.escalation_s[s].join(" / ") || "-"}`);
  $("channels").innerHTML = `<dt>${esc(t("ntf.channels"))}</dt><dd>${configured.map(esc).join("<br>")}</dd>
    <dt>${esc(t("ntf.ackLinks"))}</dt><dd>${esc(t(config.ack_links ? "ntf.yes" : "ntf.no"))}</dd>
    <dt>${esc(t("ntf.escalation"))}</dt><dd>${escalation.map(esc).join("<br>")}</dd>
    <dt>${esc(t("ntf.digest"))}</dt><dd>${esc(config.digest_severities.map((s) => t(`ntf.sev.${s}`)).join("、"))}</dd>`;
}

function drawForm() {
  const form = $("recipient-form");
  const keep = (select, values, prefix) => {
    const chosen = select.value;
    select.innerHTML = values.map((v) => `<option value="${v}">${esc(t(`${prefix}${v}`))}</option>`).join("");
    if (chosen) select.value = chosen;
  };
  keep($("role"), ROLES, "ntf.role.");
  keep($("min-severity"), SEVERITIES, "ntf.sev.");
  const ticked = new Set([...form.querySelectorAll("input[name=channel]:checked")].map((b) => b.value));
  $("channel-boxes").innerHTML = CHANNELS.map((c) => `<label class="check"><input type="checkbox" name="channel" value="${c}"${ticked.has(c) ? " checked" : ""}> ${esc(t(`ntf.ch.${c}`))}</label>`).join("");
}

function drawTable() {
  $("recipients").innerHTML = recipients.map((r) => `<tr data-recipient="${r.id}" class="${r.active ? "" : "disabled"}">
    <td>${esc(r.name)}</td><td>${esc(t(`ntf.role.${r.role}`))}</td>
    <td>${esc(r.channels.map((c) => t(`ntf.ch.${c}`)).join("、"))}</td>
    <td>${esc(r.sites.join("、") || t("ntf.allSites"))}</td><td>${esc(t(`ntf.sev.${r.min_severity}`))}</td>
    <td>${esc(r.active ? t("ntf.activeFlag") : "—")}</td>
    <td class="actions"><button type="button" class="edit">${esc(t("ntf.edit"))}</button>
      <button type="button" class="test">${esc(t("ntf.test"))}</button></td></tr>`).join("")
    || `<tr><td colspan="7" class="muted">${esc(t("ntf.none"))}</td></tr>`;
  $("log").innerHTML = log.map((d) => `<tr data-delivery="${d.id}">
    <td>${esc(fmtDateTime(d.created_ms))}</td><td>${esc(t(`ntf.ch.${d.channel}`))}</td><td class="wrap">${esc(d.address)}</td>
    <td class="wrap">${esc(d.subject)}</td><td class="state">${esc(t(`ntf.dl.${d.status}`))}</td><td>${d.attempts}</td>
    <td class="wrap">${esc(d.last_error)}</td></tr>`).join("")
    || `<tr><td colspan="7" class="muted">${esc(t("ntf.none"))}</td></tr>`;
}

function draw() {
  drawChannels();
  drawForm();
  drawTable();
}

async function load() {
  [recipients, config, log] = await Promise.all([
    api("/notify/recipients"), api("/notify/channels"), api("/notify/deliveries?limit=50")]);
  draw();
}

function fill(r) {
  const form = $("recipient-form");
  form.reset();
  form.elements.id.value = r?.id ?? "";
  $("form-title").dataset.i18n = r ? "ntf.edit" : "ntf.new";
  $("form-title").textContent = t($("form-title").dataset.i18n);
  if (r) {
    for (const name of ["name", "role", "min_severity", "locale", "email", "wecom_user", "dingtalk_user", "phone", "platform_user"]) {
      form.elements[name].value = r[name];
    }
    form.elements.sites.value = r.sites.join(", ");
    form.elements.active.checked = r.active;
  }
  for (const box of form.querySelectorAll("input[name=channel]")) box.checked = Boolean(r?.channels.includes(box.value));
}

function wire() {
  const form = $("recipient-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const d = new FormData(form);
    const body = {
      name: String(d.get("name")).trim(), role: d.get("role"), min_severity: d.get("min_severity"),
      locale: d.get("locale"), channels: d.getAll("channel"),
      sites: String(d.get("sites")).split(/[,，、]/).map((s) => s.trim()).filter(Boolean),
      active: form.elements.active.checked,
    };
    for (const name of ["email", "wecom_user", "dingtalk_user", "phone", "platform_user"]) body[name] = String(d.get(name)).trim();
    const id = d.get("id");
    try {
      await api(id ? `/notify/recipients/${id}` : "/notify/recipients", { method: id ? "PUT" : "POST", body });
      say(t("ntf.saved"), true);
      fill(null);
      await load();
    } catch (error) {
      say(refusal(error));
    }
  });
  $("new").addEventListener("click", () => fill(null));
  $("recipients").addEventListener("click", async (event) => {
    const row = event.target.closest("tr[data-recipient]");
    if (!row) return;
    const recipient = recipients.find((r) => r.id === Number(row.dataset.recipient));
    if (event.target.classList.contains("edit")) fill(recipient);
    if (event.target.classList.contains("test")) {
      try {
        await api(`/notify/recipients/${recipient.id}/test`, { method: "POST" });
        say(t("ntf.testSent"), true);
        setTimeout(() => load().catch(() => {}), 1500);
      } catch (error) {
        say(refusal(error));
      }
    }
  });
}

async function start() {
  header("ntf.settings.title", { logoutButton: true });
  languageSwitch(draw);
  await requireLogin([]);
  applyWords();
  drawForm();
  wire();
  await load();
}

start();
