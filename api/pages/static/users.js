// Users and passwords. Admins see every user with role and state, and disable, re-enable or
// change the role of the others (the server refuses changes to oneself and to the last
// enabled admin). Every logged-in user changes their own password here; the server then
// revokes all their tokens and answers with a new one for this session. Admins also create
// browser kiosk keys (shown once), see when each was last used, and revoke them; or, without
// anyone copying a key, a one-time pairing code the kiosk's setup screen takes (10 minutes).
// Admins also see the accounts that signed on through campus sign-on, and disable them.
import { api, applyWords, errorText, esc, fmtDateTime, fmtTime, header, languageSwitch, requireLogin, t } from "./common.js";
import { drawSignOnAccounts } from "./sign-on-accounts.js";
import "./words-kiosk.js";

const $ = (id) => document.getElementById(id);
const ROLES = ["admin", "facilities", "clerk", "supervisor"];
let me = null;
let users = [];
let kioskKeys = [];
let pairingCodes = [];
let lastCode = null;

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
    $("message").textContent = errorText(error);
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
  pairingCodes = await api("/kiosk/pairing-codes");
  drawPairingCodes();
}

function drawPairingCodes() {
  $("pairing-codes").innerHTML = pairingCodes.map((c) => `<tr data-device="${esc(c.device_id)}" data-state="${esc(c.state)}">
      <td>${esc(c.device_id)}</td><td>${esc(fmtDateTime(c.created_ms))}</td><td>${esc(fmtTime(c.expires_ms))}</td>
      <td class="state">${esc(t(`kiosks.pair.${c.state}`))}${c.used_ms == null ? "" : ` ${esc(fmtTime(c.used_ms))}`}</td>
      <td>${esc(c.used_from ?? "")}</td></tr>`).join("");
  if (lastCode) $("kiosk-code-once").textContent = t("kiosks.pair.once", { time: fmtTime(lastCode.expires_ms) });
}

function wireKioskKeys() {
  const form = $("kiosk-form");
  const message = $("kiosk-message");
  const body = () => {
    const data = new FormData(form);
    return { device_id: String(data.get("device")).trim(), name: String(data.get("name")).trim() };
  };
  // The default action: a pairing code, typed on the kiosk; nobody copies a key around.
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    try {
      lastCode = await api("/kiosk/pairing-codes", { method: "POST", body: body() });
      $("kiosk-code").textContent = lastCode.code;
      $("kiosk-paired").hidden = false;
      $("kiosk-created").hidden = true;
      form.reset();
      await loadKioskKeys();
    } catch (error) {
      message.textContent = errorText(error);
    }
  });
  $("kiosk-create-key").addEventListener("click", async () => {
    if (!form.reportValidity()) return;
    message.textContent = "";
    try {
      const created = await api("/kiosk/keys", { method: "POST", body: body() });
      // The only time the key is shown: the server keeps its hash alone.
      $("kiosk-key").textContent = created.kiosk_key;
      $("kiosk-created").hidden = false;
      $("kiosk-paired").hidden = true;
      form.reset();
      await loadKioskKeys();
    } catch (error) {
      message.textContent = errorText(error);
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
      message.textContent = errorText(error);
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
      message.textContent = error.status === 403 ? t("users.wrong") : errorText(error);
    }
  });
}

async function start() {
  header("users.title", { logoutButton: true });
  languageSwitch(() => {
    if (me?.role === "admin") { draw(); drawKioskKeys(); drawPairingCodes(); drawSignOnAccounts(document.querySelector("main")); }
  });
  me = await requireLogin(["facilities", "clerk", "supervisor"]);
  applyWords();
  if (me.cookie) {
    // Signed on with the campus account: there is no local password to change here.
    $("password-form").replaceWith(Object.assign(document.createElement("p"), { textContent: t("signon.noPassword") }));
  } else {
    wirePasswordForm();
  }
  if (me.role === "admin") {
    drawSignOnAccounts(document.querySelector("main")).catch((error) => { $("message").textContent = errorText(error); });
    $("user-admin").hidden = false;
    $("kiosk-admin").hidden = false;
    wireUserTable();
    wireKioskKeys();
    try {
      await load();
    } catch (error) {
      $("message").textContent = errorText(error);
    }
    try {
      await loadKioskKeys();
    } catch (error) {
      // A hall without the queue has no kiosks: the section says why it is empty.
      $("kiosk-message").textContent = errorText(error);
    }
  }
}

start();
