// The users page's list of people who signed on through campus sign-on (统一身份认证), for
// admins: the role their last sign-on mapped to, and disabling (which ends their sessions at
// once and refuses their next sign-on). Absent when sign-on is not configured.
import { api, applyWords, esc, fmtDateTime, t } from "./common.js";
import "./words-sign-on.js";

function who(account) {
  if (account.role) return t(`role.${account.role}`);
  return account.person_kind ? t(`signon.person.${account.person_kind}`) : "–";
}

function rows(accounts) {
  return accounts.map((a) => `
    <tr data-account="${esc(a.username)}">
      <td>${esc(a.username)}</td><td>${esc(who(a))}</td><td>${esc(a.person_id ?? "–")}</td>
      <td>${esc(fmtDateTime(a.last_login_at * 1000))}</td>
      <td class="state">${t(a.disabled ? "users.disabled" : "users.enabled")}</td>
      <td><button type="button" data-action="${a.disabled ? "enable" : "disable"}">${t(a.disabled ? "users.enable" : "users.disable")}</button></td>
    </tr>`).join("");
}

export async function drawSignOnAccounts(main) {
  let accounts;
  try {
    accounts = await api("/sign-on/accounts");
  } catch (error) {
    if (error.status === 404) return;  // no campus sign-on in this hall
    throw error;
  }
  let section = document.getElementById("sign-on-admin");
  if (!section) {
    section = document.createElement("section");
    section.className = "card";
    section.id = "sign-on-admin";
    main.prepend(section);
    section.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const name = button.closest("tr").dataset.account;
      button.disabled = true;
      await api(`/sign-on/accounts/${encodeURIComponent(name)}/${button.dataset.action}`, { method: "POST" });
      await drawSignOnAccounts(main);
    });
  }
  section.innerHTML = `
    <h2 data-i18n="signon.accounts"></h2>
    <p class="muted" data-i18n="signon.accounts.hint"></p>
    <table><thead><tr><th data-i18n="users.name"></th><th data-i18n="users.role"></th>
      <th data-i18n="signon.personId"></th><th data-i18n="signon.lastLogin"></th>
      <th data-i18n="users.state"></th><th></th></tr></thead>
    <tbody>${rows(accounts)}</tbody></table>`;
  applyWords(section);
}
