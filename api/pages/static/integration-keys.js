// The online service platform's API keys (admin): list them, create one (its key is shown this
// once: the server keeps only a hash, and the page forgets it when closed), revoke one after a
// confirmation. The calls are /integration/keys (api/routes/integration.py).
import { api, applyWords, errorText, esc, fmtDateTime, header, lang, languageSwitch, requireLogin, t } from "./common.js";
import { askNote } from "./note-dialog.js";

const $ = (id) => document.getElementById(id);
const SCOPES = ["cases:read", "cases:write", "events:read"];
let keys = [];

function drawScopes() {
  const ticked = new Set([...document.querySelectorAll("input[name=scope]:checked")].map((i) => i.value));
  const first = !document.querySelector("input[name=scope]");
  $("scope-choices").innerHTML = SCOPES.map((s) => `<label><input type="checkbox" name="scope" value="${esc(s)}"
    ${first || ticked.has(s) ? "checked" : ""}> ${esc(t(`scope.${s}`))}</label>`).join("");
}

function draw() {
  $("keys").innerHTML = keys.map((k) => `<tr data-key="${esc(k.key_id)}" class="${k.active ? "" : "revoked"}">
      <td>${esc(k.name)}</td><td>${esc(k.scopes.map((s) => t(`scope.${s}`)).join(lang() === "en" ? ", " : "、"))}</td>
      <td class="when">${esc(fmtDateTime(k.created_ms))}</td><td>${esc(k.created_by)}</td>
      <td class="state">${esc(t(k.active ? "keys.active" : "keys.revoked"))}</td>
      <td class="actions">${k.active ? `<button type="button" class="danger" data-revoke="${esc(k.key_id)}">${esc(t("keys.revoke"))}</button>` : ""}</td>
    </tr>`).join("") || `<tr><td colspan="6" class="muted">${esc(t("keys.none"))}</td></tr>`;
}

async function load() {
  keys = await api("/integration/keys");
  draw();
}

function say(text) {
  $("message").textContent = text;
}

async function create(event) {
  event.preventDefault();
  say("");
  const form = new FormData(event.target);
  const scopes = form.getAll("scope");
  if (!scopes.length) {
    say(t("keys.noscope"));
    return;
  }
  try {
    const created = await api("/integration/keys", { method: "POST",
                                                      body: { name: String(form.get("name")).trim(), scopes } });
    $("created-key").textContent = created.api_key;
    $("created").hidden = false;
    event.target.reset();
    drawScopes();
    await load();
  } catch (error) {
    say(errorText(error));
  }
}

async function revoke(event) {
  const id = event.target.dataset.revoke;
  const key = keys.find((k) => k.key_id === id);
  if (!key) return;
  const sure = await askNote({ title: t("keys.revoke.title"), text: t("keys.revoke.text", { name: key.name }),
                               confirm: t("keys.revoke"), withNote: false });
  if (sure === null) return;
  try {
    say("");
    await api(`/integration/keys/${encodeURIComponent(id)}`, { method: "DELETE" });
    await load();
  } catch (error) {
    say(errorText(error));
  }
}

async function start() {
  header("keys.title", { logoutButton: true });
  languageSwitch(() => { drawScopes(); draw(); });
  await requireLogin(["admin"]);
  applyWords();
  drawScopes();
  $("key-form").addEventListener("submit", create);
  $("keys").addEventListener("click", (event) => { if (event.target.dataset.revoke) revoke(event); });
  $("created-done").addEventListener("click", () => {
    $("created-key").textContent = "";  // gone from the page: it is never shown again
    $("created").hidden = true;
  });
  await load();
}

start().catch((error) => say(errorText(error)));
