// Users and passwords. Admins see every user with role and state, and disable, re-enable or
// change the role of the others (the server refuses changes to oneself and to the last
// enabled admin). Every logged-in user changes their own password here; the server then
// revokes all their tokens and answers with a new one for this session. Admins also create
// browser kiosk keys (shown once), see when each was last used, and revoke them.
import { api, applyWords, esc, fmtDateTime, header, languageSwitch, requireLogin, t } from "./common.js";
import { drawSignOnAccounts } from "./sign-on-accounts.js";

const $ = (id) => document.getElementById(id);
const ROLES = ["admin", "facilities", "clerk", "supervisor"];
let me = null;
let users = [];
let kioskKeys = [];

function draw() {
  $("users").innerHTML = users.map((u) => {
    const self = u.username === me.user;
    const options = ROLES.map((r) => `<option value="${r}"${r === u.role ? " selected" : ""}>${esc(t(`role.${r}`))}</option>`).join("");
    return `<tr data-user="${esc(u.username)}" class="${u.disabled ? "disabled" : ""}">
      <td>${esc(u.username)}${self ? esc(t("users.you")) : ""}</td>
      <td><select class="role" aria-label="${esc(t("users.role"))}"${self ? " disabled" : ""}>${options}</select></td>
      <td class="state">${esc(t(u.disabled ? "users.disabled" : "users.enabled"))}</td>
      <td class="actions">${self ? "" : `
        <button type="button" class="set-role">${esc(t("users.setrole"))}</button>
        <button type="button" class="toggle ${u.disabled ? "" : "danger"}">${esc(t(u.disabled ? "users.enable" : "users.disable"))}</button>`}</td>
    </tr>`;
  }).join("");
}

async function load() {
  users = await api("/users");
  draw();
}

async function act(row, work) {
  $("message").textContent = "";
  try {
    await work(encodeURIComponent(row.dataset.user));
    await load();
  } catch (error) {
    $("message").textContent = t("err.generic") + error.message;
  }
}

function wireUserTable() {
  $("users").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-user]");
    if (!row) return;
    if (event.target.classList.contains("toggle")) {
      const user = users.find((u) => u.username === row.dataset.user);
      act(row, (name) => api(`/users/${name}/${user.disabled ? "enable" : "disable"}`, { method: "POST" }));
    } else if (event.target.classList.contains("set-role")) {
      const role = row.querySelector("select.role").value;
      act(row, (name) => api(`/users/${name}/role`, { method: "PUT", body: { role } }));
    }
  });
}

function drawKioskKeys() {
  $("kiosk-keys").innerHTML = kioskKeys.map((k) => `<tr data-key="${esc(k.key_id)}" data-device="${esc(k.device_id)}" class="${k.active ? "" : "revoked"}">
      <td>${esc(k.device_id)}</td><td>${esc(k.name)}</td><td>${esc(fmtDateTime(k.created_ms))}</td>
      <td>${esc(k.last_used_ms == null ? t("kiosks.never") : fmtDateTime(k.last_used_ms))}</td>
      <td class="state">${esc(t(k.active ? "kiosks.active" : "kiosks.revoked"))}</td>
      <td class="actions">${k.active ? `<button type="button" class="revoke danger">${esc(t("kiosks.revoke"))}</button>` : ""}</td>
    </tr>`).join("");
}

async function loadKioskKeys() {
  kioskKeys = await api("/kiosk/keys");
  drawKioskKeys();
}

function wireKioskKeys() {
  const form = $("kiosk-form");
  const message = $("kiosk-message");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    message.textContent = "";
    try {
      const created = await api("/kiosk/keys", {
        method: "POST", body: { device_id: String(data.get("device")).trim(), name: String(data.get("name")).trim() },
      });
      // The only time the key is shown: the server keeps its hash alone.
      $("kiosk-key").textContent = created.kiosk_key;
      $("kiosk-created").hidden = false;
      form.reset();
      await loadKioskKeys();
    } catch (error) {
      message.textContent = t("err.generic") + error.message;
    }
  });
  $("kiosk-keys").addEventListener("click", async (event) => {
    const row = event.target.closest("tr[data-key]");
    if (!row || !event.target.classList.contains("revoke")) return;
    message.textContent = "";
    try {
      await api(`/kiosk/keys/${encodeURIComponent(row.dataset.key)}`, { method: "DELETE" });
      await loadKioskKeys();
    } catch (error) {
      message.textContent = t("err.generic") + error.message;
    }
  });
}

function wirePasswordForm() {
  const form = $("password-form");
  const message = $("password-message");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    message.className = "bad";
    if (data.get("new") !== data.get("repeat")) {
      message.textContent = t("users.mismatch");
      return;
    }
    try {
      const issued = await api("/auth/password", {
        method: "POST", body: { current_password: data.get("current"), new_password: data.get("new") },
      });
      // Every earlier token is revoked, this page's too: carry on with the new one.
      sessionStorage.setItem("hall.token", issued.access_token);
      form.reset();
      message.className = "ok";
      message.textContent = t("users.changed");
    } catch (error) {
      message.textContent = error.status === 403 ? t("users.wrong") : t("err.generic") + error.message;
    }
  });
}

async function start() {
  header("users.title", { logoutButton: true });
  languageSwitch(() => { if (me?.role === "admin") { draw(); drawKioskKeys(); drawSignOnAccounts(document.querySelector("main")); } });
  me = await requireLogin(["facilities", "clerk", "supervisor"]);
  applyWords();
  if (me.cookie) {
    // Signed on with the campus account: there is no local password to change here.
    $("password-form").replaceWith(Object.assign(document.createElement("p"), { textContent: t("signon.noPassword") }));
  } else {
    wirePasswordForm();
  }
  if (me.role === "admin") {
    drawSignOnAccounts(document.querySelector("main")).catch((error) => { $("message").textContent = t("err.generic") + error.message; });
    $("user-admin").hidden = false;
    $("kiosk-admin").hidden = false;
    wireUserTable();
    wireKioskKeys();
    try {
      await load();
    } catch (error) {
      $("message").textContent = t("err.generic") + error.message;
    }
    try {
      await loadKioskKeys();
    } catch (error) {
      // A hall without the queue has no kiosks: the section says why it is empty.
      $("kiosk-message").textContent = t("err.generic") + error.message;
    }
  }
}

start();
