// The window terminal: a clerk opens a window and calls, serves and completes tickets with
// buttons or single-key shortcuts; the queue refreshes from the live ticket stream.
import { api, applyWords, errorText, esc, fmtTime, header, isOffline, known, languageSwitch, liveStream,
         rememberServiceNames, requireLogin, serviceNamed, showLiveStatus, t } from "./common.js";

let me = null;
let windows = [];
let status = null;
let busy = false;

const $ = (id) => document.getElementById(id);
const selected = () => $("window-select").value;
// A service code as the clerk reads it: the service's name (the window status lists them and
// refresh() hands them to common.js, so errors naming a service say its name too).
const named = serviceNamed;

function say(text, ok = false) {
  $("message").textContent = text;
  $("message").style.color = ok ? "var(--ok)" : "";
}

// "My figures today": the server counts them from the ticket history (every window the clerk
// worked today, every terminal), so they survive a reload and a change of terminal.
let myDay = null;
async function loadFigures() {
  try {
    myDay = await api("/windows/my-day");
  } catch {
    return;  // figures are a convenience; the terminal works without them
  }
  drawFigures();
}
function drawFigures() {
  if (!myDay) return;
  const avg = myDay.mean_service_s == null ? "–" : (myDay.mean_service_s / 60).toFixed(1);
  $("figures").innerHTML = [["fig.called", myDay.called], ["fig.done", myDay.done],
    ["fig.noshow", myDay.no_show], ["fig.avg", `${avg} ${t("minutes")}`]]
    .map(([k, v]) => `<div><b>${esc(v)}</b>${esc(t(k))}</div>`).join("");
}

function drawCases(cases) {
  if (!cases.length) {
    $("cases").innerHTML = "";
    return;
  }
  $("cases").innerHTML = cases.map((c) => `
    <div class="case" data-case="${esc(c.case_id)}">
      <b>${esc(c.case_id)}</b> · ${esc(named(c.service))} · ${esc(known(`case.${c.status}`, c.status))} · ${esc(c.applicant_name ?? "")}
      · ${esc(t("visits"))} ${esc(c.visits)}
      <div>${esc(t("window.materials"))}:</div>
      <ul>${c.materials.map((m) => `<li class="material ${m.received ? "received" : "missing"}">
        ${m.received ? "☑" : "☐"} ${esc(m.name)} (${esc(t(m.received ? "received" : "missing"))})</li>`).join("")}</ul>
    </div>`).join("");
}

// Who holds each window, in the window list ("2 号窗口 (w2) · sim-w2 在岗").
function drawWindowList() {
  const chosen = selected();
  $("window-select").innerHTML = windows.map((w) => {
    const holder = openSession(w)?.clerk;
    const state = holder == null ? t("window.free")
      : holder === me.user ? t("window.mine") : t("window.heldBy", { clerk: holder });
    return `<option value="${esc(w.window_id)}">${esc(t("window.number", { n: w.number }))} (${esc(w.window_id)}) · ${esc(state)}</option>`;
  }).join("");
  if (chosen) $("window-select").value = chosen;
}
const openSession = (w) => (w?.session && w.session.closed_ms == null ? w.session : null);
// Admins and supervisors may act on another clerk's window (take over, force close).
const isAdmin = () => me.role === "admin" || me.role === "supervisor";

function draw() {
  if (!status) return;
  const session = openSession(status);
  const holder = session?.clerk;
  const othersWindow = holder != null && holder !== me.user;
  // An admin may work any open window (the supervisor's move); a clerk only their own.
  const open = !!session && (!othersWindow || isAdmin());
  $("terminal").hidden = !open;
  // Opening someone else's window is refused by the server: say so here instead.
  $("open").disabled = !!session;
  $("close").disabled = !open || othersWindow;
  $("take-over").hidden = !(isAdmin() && othersWindow);
  $("force-close").hidden = !(isAdmin() && othersWindow);
  $("who").textContent = othersWindow && !isAdmin() ? t("window.taken", { clerk: holder }) : me.user;
  $("not-mine").hidden = !(othersWindow && isAdmin());
  $("not-mine").textContent = othersWindow ? t("window.notMine", { clerk: holder }) : "";
  const listed = windows.find((w) => w.window_id === status.window_id);
  if (listed && openSession(listed)?.clerk !== holder) {
    listed.session = status.session;
    drawWindowList();
  }
  const cur = status.current;
  $("current-number").textContent = cur ? cur.number : t("window.none");
  $("current-state").textContent = cur ? `${known(`state.${cur.state}`, cur.state)} · ${named(cur.service)} · ${fmtTime(cur.called_ms)}` : "";
  const state = cur?.state;
  $("act-call").disabled = !!cur;
  // Recall shows how many are left; at the limit only a no-show (or a start) goes on.
  const recalls = cur?.recalls ?? 0;
  const limit = status.max_recalls ?? 0;
  $("act-recall").disabled = state !== "called" || recalls >= limit;
  $("act-recall").querySelector("span").textContent = state === "called"
    ? `${t("act.recall")} (${recalls}/${limit})` : t("act.recall");
  $("act-start").disabled = state !== "called";
  $("act-noshow").disabled = state !== "called";
  for (const id of ["act-complete", "act-pending"]) $(id).disabled = state !== "serving";
  // A called visitor may also be sent to another service or set aside before the start.
  for (const id of ["act-transfer", "act-park"]) $(id).disabled = state !== "serving" && state !== "called";
  $("parked").innerHTML = status.parked.length ? `<h2>${esc(t("window.parked"))}</h2>` + status.parked.map((p) =>
    `<button data-resume="${esc(p.ticket_id)}">${esc(t("act.resume"))} ${esc(p.number)}</button>`).join(" ") : "";
  drawCases(status.current_cases || []);
  // A disabled button keeps the focus but receives no key events: the shortcuts would die.
  if (document.activeElement?.disabled) document.activeElement.blur();
  $("waiting-count").textContent = status.waiting_count;
  const now = Date.now();
  $("queue").innerHTML = status.waiting.map((w) => `<tr data-ticket="${esc(w.number)}"><td><b>${esc(w.number)}</b></td>
    <td>${esc(named(w.service))}</td>
    <td>${w.case_ids.length ? '<span class="mark case">网</span>' : ""}${w.appointment_ms ? '<span class="mark appt">约</span>' : ""}${w.priority ? '<span class="mark prio">★</span>' : ""}</td>
    <td>${esc(t("queue.waited", { min: Math.max(0, Math.floor((now - w.issued_ms) / 60000)) }))}</td></tr>`).join("");
  drawFigures();
}

let refreshes = 0;
let liveTimer = null;
async function refresh() {
  if (!selected()) return;
  // Reads overlap (a live event, a button): only the newest one may draw, or an answer that
  // was slow to come would put back a state from before the last move.
  const mine = ++refreshes;
  const fresh = await api(`/windows/${selected()}`);
  if (mine !== refreshes) return;
  status = fresh;
  rememberServiceNames(status.service_names);
  draw();
}

async function act(path, body, after) {
  if (busy) return;   // one move at a time: a double press must not call twice
  if (isOffline()) {  // a shortcut key while the server is away: nothing is sent
    say(t("err.offline"));
    return;
  }
  busy = true;
  let result;
  try {
    result = await api(`/windows/${selected()}/${path}`, { method: "POST", body });
  } catch (error) {
    say(errorText(error));
    // A refusal means the page's picture was old (a colleague opened the window, another
    // window called the ticket): show what holds now.
    if (error.status) Promise.all([refresh(), reloadWindows()]).catch(() => {});
    return;
  } finally {
    // Only the move itself is exclusive: the next key press may come while the page re-reads.
    busy = false;
  }
  say("");
  after?.(result);
  await Promise.all([refresh(), loadFigures()]);
}

// Every move ends in a short confirmation naming the ticket ("A014 已重呼 (1/2)").
const done = (key, extra = {}) => (ticket) => say(t(key, { number: ticket.number, ...extra }), true);
const currentNumber = () => status?.current?.number ?? "";

const actions = {
  "act-call": () => act("call-next", undefined, (r) => {
    if (!r.called) say(t("act.nobody"));
    else say(t("done.called", { number: r.called.number }), true);
  }),
  "act-recall": () => act("recall", undefined, (ticket) =>
    say(t("done.recalled", { number: ticket.number, n: ticket.recalls, max: status.max_recalls }), true)),
  "act-start": () => act("start", undefined, done("done.started")),
  "act-complete": () => act("complete", { outcome: "resolved" }, (r) => done("done.completed")(r.ticket)),
  "act-pending": () => askPending(),
  "act-transfer": () => askTransfer(),
  "act-noshow": () => act("no-show", undefined, done("done.noshow")),
  "act-park": () => act("park", {}, done("done.parked")),
};

// Run ``then(form values)`` when the dialog closes with its confirm button.
function ask(dialog, then) {
  dialog.returnValue = "";  // Esc keeps the last one otherwise
  dialog.onclose = () => {
    if (dialog.returnValue === "confirm") then();
  };
  dialog.showModal();
}

// Transfer: pick the service by the name visitors see (never a typed code).
function askTransfer() {
  const from = status.current?.service;
  $("transfer-title").textContent = t("transfer.title", { number: currentNumber() });
  const codes = Object.keys(status.service_names ?? {}).filter((code) => code !== from);
  $("transfer-services").innerHTML = codes.map((code, i) => `<label><input type="radio"
    name="transfer-service" value="${esc(code)}" ${i === 0 ? "checked" : ""} required> ${esc(named(code))}</label>`).join("");
  ask($("transfer-dialog"), () => {
    const service = document.querySelector("input[name=transfer-service]:checked")?.value;
    if (!service) return;
    act("transfer", { service, keep_arrival: $("transfer-keep").checked },
        done("done.transferred", { service: named(service) }));
  });
}

// Pending materials: tick the case's missing items; free text only for anything else.
function askPending() {
  const missing = (status.current_cases ?? []).flatMap((c) => c.materials.filter((m) => !m.received));
  $("pending-title").textContent = t("pending.title", { number: currentNumber() });
  $("pending-materials").innerHTML = missing.length ? missing.map((m) => `<label><input type="checkbox"
    name="pending-material" value="${esc(m.name)}"> ${esc(m.name)}</label>`).join("")
    : `<p class="muted">${esc(t("pending.noChecklist"))}</p>`;
  $("pending-other").value = "";
  $("pending-error").textContent = "";
  const dialog = $("pending-dialog");
  // The confirm button validates first: nothing ticked and nothing typed is no reason.
  $("pending-confirm").onclick = (event) => {
    if (!pendingReason()) {
      event.preventDefault();
      $("pending-error").textContent = t("pending.none");
    }
  };
  ask(dialog, () => act("complete", { outcome: "pending_materials", reason: pendingReason() },
                        (r) => done("done.pending")(r.ticket)));
}
function pendingReason() {
  const ticked = [...document.querySelectorAll("input[name=pending-material]:checked")].map((i) => i.value);
  const other = $("pending-other").value.trim();
  return [ticked.length ? `${t("pending.missing")}${ticked.join("、")}` : "",
          other ? `${t("pending.otherPrefix")}${other}` : ""].filter(Boolean).join("；");
}

// Taking over or force-closing someone else's window: confirmed, with a note that stays in
// the parked ticket's history.
function supervise(path) {
  const holder = openSession(status)?.clerk ?? "";
  const current = status.current?.number;
  const word = path === "take-over" ? "takeOver" : "forceClose";
  $("supervise-title").textContent = t(`window.${word}`);
  $("supervise-text").textContent = t(`window.${word}.explain`, { clerk: holder })
    + (current ? " " + t("window.parksCurrent", { number: current }) : "");
  $("supervise-confirm").textContent = t(`window.${word}`);
  $("supervise-note").value = "";
  const dialog = $("supervise");
  dialog.onclose = () => {
    if (dialog.returnValue !== "confirm") return;
    act(path, { note: $("supervise-note").value.trim() }, (result) => {
      say(result.parked ? t("window.parkedDone", { number: result.parked.number })
        : t(`window.${word}.done`), true);
      listed(result.window);
    });
  };
  dialog.returnValue = "";  // Esc keeps the last one otherwise
  dialog.showModal();
}
async function reloadWindows() {
  windows = await api("/windows");
  drawWindowList();
}
function listed(window) {
  const i = windows.findIndex((w) => w.window_id === window.window_id);
  if (i >= 0) windows[i] = window;
  drawWindowList();
}

async function start() {
  header("nav.window", { live: true, logoutButton: true });
  languageSwitch(() => {
    drawWindowList();
    draw();
  });
  me = await requireLogin(["clerk", "supervisor"]);
  $("who").textContent = me.user;
  windows = await api("/windows");
  const mine = windows.find((w) => openSession(w)?.clerk === me.user);
  drawWindowList();
  const remembered = localStorage.getItem("hall.window");
  $("window-select").value = mine?.window_id ?? (windows.some((w) => w.window_id === remembered) ? remembered : windows[0]?.window_id);
  $("window-select").addEventListener("change", () => {
    localStorage.setItem("hall.window", selected());
    $("window-select").blur();
    refresh();
  });
  $("open").addEventListener("click", () => act("open"));
  $("close").addEventListener("click", () => ask($("close-dialog"), () =>
    act("close", undefined, () => say(t("window.forceClose.done"), true))));
  $("take-over").addEventListener("click", () => supervise("take-over"));
  $("force-close").addEventListener("click", () => supervise("force-close"));
  for (const [id, run] of Object.entries(actions)) $(id).addEventListener("click", run);
  $("parked").addEventListener("click", (event) => {
    const id = event.target.dataset.resume;
    if (id) act("resume", { ticket_id: id }, done("done.resumed"));
  });
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.altKey || event.metaKey || $("terminal").hidden) return;
    // Typing text is not a command; a focused window list is (its own type-ahead is not needed).
    if (["INPUT", "TEXTAREA"].includes(document.activeElement?.tagName)) return;
    const button = document.querySelector(`.actions button[data-key="${event.key.toLowerCase()}"]`);
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  });
  applyWords();
  await Promise.all([refresh(), loadFigures()]);
  liveStream("/live/display", {
    onStatus: showLiveStatus,
    onEvent: () => {
      // Calls come in bursts (every window at opening time): one re-read per burst.
      clearTimeout(liveTimer);
      liveTimer = setTimeout(() => {
        refresh().catch(() => {});
        // Who holds the other windows changes too (a colleague opens, an admin takes over).
        reloadWindows().catch(() => {});
      }, 150);
    },
  });
}

start().catch((error) => say(errorText(error)));
