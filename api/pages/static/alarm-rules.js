// Alarm rules: the list (enable, disable, edit, delete), the editor with a preview of how the
// draft would have fired over a device's last 24 h (drawn over its telemetry), the built-in
// alarms' tuning (severity, delay, off) and the audit of every change. Facilities and admins.
import { ApiError, api, applyWords, errorText, esc, fmtDateTime, fmtValue, header, languageSwitch, lang,
         requireLogin, t } from "./common.js";
import { telemetryChart } from "./telemetry-chart.js";
import "./words-alarm-rules.js";

const $ = (id) => document.getElementById(id);
const SEVERITIES = ["critical", "major", "minor", "warning"];
const KINDS = ["kiosk", "face_gate", "door_lock", "queue_display"];
const DIRECTIONS = ["rise", "fall", "either"];
// The fields of each condition type, and the placeholders its messages may use.
const FIELDS = {
  above: ["metric", "threshold", "clear_at", "for_s", "clear_for_s"],
  below: ["metric", "threshold", "clear_at", "for_s", "clear_for_s"],
  outside: ["metric", "low", "high", "hysteresis", "for_s", "clear_for_s"],
  rate: ["metric", "per_min", "clear_per_min", "direction", "for_s", "clear_for_s"],
  no_data: ["metric", "after_s"],
  equals: ["metric", "value", "for_s", "clear_for_s"],
  event_count: ["event", "at_least", "window_s", "clear_after_s"],
};
const COMMON = ["device", "site", "kind", "rule", "severity"];
const PLACEHOLDERS = {
  above: ["metric", "value", "unit", "threshold", "clear_at", "duration"],
  outside: ["metric", "value", "unit", "low", "high", "duration"],
  rate: ["metric", "value", "unit", "rate", "per_min", "duration"],
  no_data: ["metric", "after", "last_seen"],
  equals: ["metric", "value", "duration"],
  event_count: ["event", "count", "window"],
};
PLACEHOLDERS.below = PLACEHOLDERS.above;
const TEXT_FIELDS = new Set(["metric", "event", "direction", "value"]);

let rules = [];
let builtins = [];
let editing = null;   // the rule being edited (its id and version), or null for a new one
let lastPreview = null;

const form = () => $("rule-form");
const field = (name) => form().elements.namedItem(name);
const sev = (s) => t(`ar.sev.${s}`);

function options(select, values, label, { any = false } = {}) {
  const keep = select.value;
  select.innerHTML = (any ? `<option value="">${esc(t("ar.any"))}</option>` : "")
    + values.map((v) => `<option value="${esc(v)}">${esc(label(v))}</option>`).join("");
  if (keep) select.value = keep;
}

function summary(rule) {
  const c = rule.condition;
  const word = t(`ar.cond.${c.type}`);
  if (c.type === "event_count") return `${c.event} ≥ ${c.at_least} / ${c.window_s}s`;
  if (c.type === "outside") return `${c.metric} ${word} [${fmtValue(c.low)}, ${fmtValue(c.high)}]`;
  if (c.type === "above" || c.type === "below") {
    return `${c.metric} ${word} ${fmtValue(c.threshold)}${c.for_s ? ` · ${c.for_s}s` : ""}`;
  }
  if (c.type === "rate") return `${c.metric} ${word} ${fmtValue(c.per_min)}/min`;
  if (c.type === "no_data") return `${c.metric} ${word} ${c.after_s}s`;
  return `${c.metric} = ${String(c.value)}`;
}

function drawRules() {
  $("rules").innerHTML = rules.map((r) => `<tr data-rule="${esc(r.id)}" class="${r.enabled ? "" : "off"}">
      <td>${esc(r.name)} <span class="muted">${esc(r.id)}</span></td>
      <td><span class="badge ${esc(r.severity)}">${esc(sev(r.severity))}</span></td>
      <td>${esc(summary(r))}</td>
      <td>${esc(r.target.devices)}${r.target.kind ? ` · ${esc(t(`kind.${r.target.kind}`))}` : ""}${r.target.site ? ` · ${esc(r.target.site)}` : ""}</td>
      <td class="state">${esc(t(r.enabled ? "ar.enabled" : "ar.disabled"))}</td>
      <td class="actions"><button type="button" class="edit">${esc(t("ar.edit"))}</button>
        <button type="button" class="toggle">${esc(t(r.enabled ? "ar.disable" : "ar.enable"))}</button>
        <button type="button" class="delete danger">${esc(t("ar.delete"))}</button></td></tr>`).join("")
    || `<tr><td class="muted" colspan="6">${esc(t("ar.none"))}</td></tr>`;
}

function drawBuiltins() {
  $("builtins").innerHTML = builtins.map((b) => `<tr data-builtin="${esc(b.id)}" class="${b.enabled ? "" : "off"}">
      <td>${esc(t(`ar.builtin.${b.id}`))}${b.tuned ? ` <span class="muted">(${esc(t("ar.tuned"))})</span>` : ""}</td>
      <td>${esc(sev(b.default_severity))}</td>
      <td><select class="b-severity" aria-label="${esc(t("ar.severity"))}">${SEVERITIES.map((s) =>
        `<option value="${s}"${s === b.severity ? " selected" : ""}>${esc(sev(s))}</option>`).join("")}</select></td>
      <td><input class="b-delay" type="number" min="0" max="3600" step="1" value="${b.delay_s}"
        aria-label="${esc(t("ar.delay"))}"${b.cleared_by.length ? "" : " disabled"}></td>
      <td><label><input class="b-enabled" type="checkbox"${b.enabled ? " checked" : ""}> ${esc(t("ar.enabled"))}</label></td>
      <td class="actions"><button type="button" class="b-save">${esc(t("ar.save"))}</button>
        <button type="button" class="b-reset"${b.tuned ? "" : " disabled"}>${esc(t("ar.reset"))}</button></td></tr>`).join("");
}

async function drawAudit() {
  const entries = await api("/alarm-rules/audit?limit=20");
  $("audit").innerHTML = entries.map((a) => {
    const id = a.rule_id.startsWith("builtin:") ? t(`ar.builtin.${a.rule_id.slice(8)}`) : (a.after ?? a.before)?.name ?? a.rule_id;
    return `<tr><td>${esc(fmtDateTime(a.at_ms))}</td><td>${esc(a.by)}</td><td>${esc(t(`ar.action.${a.action}`))}</td><td>${esc(id)}</td></tr>`;
  }).join("");
}

function showType() {
  const type = field("type").value;
  for (const label of form().querySelectorAll("[data-field]")) label.hidden = !FIELDS[type].includes(label.dataset.field);
  $("placeholders").textContent = [...COMMON, ...PLACEHOLDERS[type]].map((p) => `{${p}}`).join(" ");
}

function fill(rule) {
  editing = rule ? { id: rule.id, version: rule.version } : null;
  form().reset();
  field("id").readOnly = Boolean(rule);
  if (!rule) {
    field("devices").value = "*";
    field("type").value = "above";
    showType();
    return;
  }
  for (const name of ["id", "name", "severity"]) field(name).value = rule[name];
  for (const name of ["devices", "kind", "site"]) field(name).value = rule.target[name] ?? "";
  field("type").value = rule.condition.type;
  for (const [name, value] of Object.entries(rule.condition)) {
    if (name !== "type" && field(name)) field(name).value = value == null ? "" : String(value);
  }
  field("hours_from").value = rule.active_hours?.from ?? "";
  field("hours_to").value = rule.active_hours?.to ?? "";
  field("message_zh").value = rule.message["zh-CN"];
  field("message_en").value = rule.message.en;
  showType();
}

function draft() {
  const type = field("type").value;
  const condition = { type };
  for (const name of FIELDS[type]) {
    const raw = field(name).value.trim();
    if (raw === "") continue;
    if (name === "value") condition.value = raw === "true" ? true : raw === "false" ? false : raw;
    else condition[name] = TEXT_FIELDS.has(name) ? raw : Number(raw);
  }
  const from = field("hours_from").value;
  const to = field("hours_to").value;
  return {
    id: field("id").value.trim(), name: field("name").value.trim(), severity: field("severity").value,
    enabled: editing ? (rules.find((r) => r.id === editing.id)?.enabled ?? true) : true,
    target: { devices: field("devices").value.trim() || "*", kind: field("kind").value, site: field("site").value.trim() },
    condition,
    active_hours: from || to ? { from, to } : null,
    message: { "zh-CN": field("message_zh").value, en: field("message_en").value },
  };
}

// A refusal as a person reads it: the reason in their language and the field it is about.
function refusal(error) {
  if (error instanceof ApiError && error.code === "alarm_rule.invalid") {
    const { field, reason } = error.params;
    const said = t(`ar.err.${reason}`);
    return lang() === "en" ? `${said} (${field}): ${error.detail}` : `${said}（${field}）`;
  }
  if (error instanceof ApiError && error.status === 409) return t(editing ? "ar.err.changed" : "ar.err.taken");
  return errorText(error);
}

async function save(event) {
  event.preventDefault();
  const message = $("form-message");
  message.className = "error";
  message.textContent = "";
  try {
    const body = draft();
    const saved = editing
      ? await api(`/alarm-rules/${encodeURIComponent(editing.id)}?version=${editing.version}`, { method: "PUT", body })
      : await api("/alarm-rules", { method: "POST", body });
    editing = { id: saved.id, version: saved.version };
    field("id").readOnly = true;
    message.className = "ok";
    message.textContent = t("ar.saved");
    await loadRules();
  } catch (error) {
    message.textContent = refusal(error);
  }
}

function drawPreview() {
  const p = lastPreview;
  if (!p) return;
  $("preview-card").hidden = false;
  $("preview-summary").textContent = (p.intervals.length
    ? t("ar.preview.count", { n: p.intervals.length, samples: p.samples }) : t("ar.preview.none"))
    + (p.matches_target ? "" : ` · ${t("ar.preview.outside")}`);
  const svg = telemetryChart($("preview-chart"), p.points.map(([x, y]) => ({ x, avg: y })),
                             { from: p.from_ms, to: p.to_ms, metric: field("metric").value });
  // The raised intervals over the chart, on the chart's own scale (none without data).
  for (const i of svg.plot ? p.intervals : []) {
    const band = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    const x0 = svg.plot.sx(i.raised_ms);
    const x1 = svg.plot.sx(i.cleared_ms ?? p.to_ms);
    for (const [k, v] of Object.entries({ x: x0, y: svg.plot.top, width: Math.max(x1 - x0, 2),
                                          height: svg.plot.height, class: "raised-band" })) {
      band.setAttribute(k, v);
    }
    svg.append(band);
  }
  svg.dataset.intervals = String(p.intervals.length);
  const key = lang() === "en" ? "en" : "zh-CN";
  $("preview-intervals").innerHTML = p.intervals.map((i) => `<tr class="interval"><td>${esc(fmtDateTime(i.raised_ms))}</td>
    <td>${esc(i.cleared_ms == null ? t("ar.preview.open") : fmtDateTime(i.cleared_ms))}</td>
    <td>${esc(i.message[key])}</td></tr>`).join("");
}

async function preview() {
  const message = $("form-message");
  message.className = "error";
  message.textContent = "";
  try {
    lastPreview = await api("/alarm-rules/preview", { method: "POST", body: { rule: draft(), device_id: $("preview-device").value.trim() } });
    drawPreview();
  } catch (error) {
    message.textContent = refusal(error);
  }
}

async function loadRules() {
  rules = await api("/alarm-rules");
  drawRules();
  await drawAudit();
}

async function loadBuiltins() {
  builtins = await api("/alarm-rules/builtin");
  drawBuiltins();
}

async function act(work, where = $("message")) {
  where.textContent = "";
  try {
    await work();
    await Promise.all([loadRules(), loadBuiltins()]);
  } catch (error) {
    where.textContent = refusal(error);
  }
}

function wire() {
  form().addEventListener("submit", save);
  field("type").addEventListener("change", showType);
  $("new-rule").addEventListener("click", () => { fill(null); $("form-message").textContent = ""; });
  $("preview").addEventListener("click", preview);
  $("rules").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-rule]");
    if (!row) return;
    const rule = rules.find((r) => r.id === row.dataset.rule);
    const path = `/alarm-rules/${encodeURIComponent(rule.id)}`;
    if (event.target.classList.contains("edit")) fill(rule);
    else if (event.target.classList.contains("toggle")) {
      act(async () => {
        const changed = await api(`${path}/${rule.enabled ? "disable" : "enable"}`, { method: "POST" });
        // The editor holds this rule: switching it is not someone else's change.
        if (editing?.id === changed.id) editing.version = changed.version;
      });
    }
    else if (event.target.classList.contains("delete") && confirm(t("ar.delete.confirm", { id: rule.id }))) {
      act(() => api(path, { method: "DELETE" }));
    }
  });
  $("builtins").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-builtin]");
    if (!row) return;
    const path = `/alarm-rules/builtin/${encodeURIComponent(row.dataset.builtin)}`;
    if (event.target.classList.contains("b-save")) {
      const delay = row.querySelector(".b-delay");
      const body = { severity: row.querySelector(".b-severity").value, enabled: row.querySelector(".b-enabled").checked,
                     delay_s: delay.disabled ? 0 : Number(delay.value || 0) };
      act(() => api(path, { method: "PUT", body }), $("builtin-message"));
    } else if (event.target.classList.contains("b-reset")) {
      act(() => api(path, { method: "DELETE" }), $("builtin-message"));
    }
  });
}

function drawChoices() {
  options(field("severity"), SEVERITIES, sev);
  options(field("kind"), KINDS, (k) => t(`kind.${k}`), { any: true });
  options(field("type"), Object.keys(FIELDS), (c) => t(`ar.cond.${c}`));
  options(field("direction"), DIRECTIONS, (d) => t(`ar.dir.${d}`));
}

async function start() {
  header("ar.title", { logoutButton: true });
  languageSwitch(() => { drawChoices(); drawRules(); drawBuiltins(); drawPreview(); drawAudit().catch(() => {}); });
  await requireLogin(["facilities"]);
  applyWords();
  drawChoices();
  wire();
  fill(null);
  const devices = await api("/devices");
  $("device-ids").innerHTML = devices.map((d) => `<option value="${esc(d.device_id)}">`).join("");
  const metrics = new Set(devices.flatMap((d) => Object.keys(d.latest ?? {})));
  $("metrics").innerHTML = [...metrics].sort().map((m) => `<option value="${esc(m)}">`).join("");
  await Promise.all([loadRules(), loadBuiltins()]);
}

start().catch((error) => { $("message").textContent = errorText(error); });
