// The public display: current calls large, recent calls, waiting counts per service. Each new
// call (or recall) is announced once: a chime, then zh-CN speech, one announcement at a time. A
// recall carries a "再次呼叫" tag and pulses instead of flashing.
//
// Public by default: no buttons. Staff double-click the screen (or open ?staff=1) and log in
// to get the controls: enable sound (browsers keep audio off until someone acts on the page,
// so this is needed once per boot unless the TV's browser runs with
// --autoplay-policy=no-user-gesture-required), full screen, language, and "done", which hides
// them again and forgets the login. The board is kept in localStorage, so a reload while the
// server is away (the page itself comes from the service worker's cache, pages-sw.js) shows
// the last known calls with an offline mark instead of a blank screen.
import { API, applyWords, esc, fmtTime, formatWhen, languageSwitch, liveStream, requireLogin, serviceName, showLiveStatus,
         t } from "./common.js";
import "./words-display.js";

const $ = (id) => document.getElementById(id);
const RECENT = 8;
const BOARD_KEY = "hall.display.board";
// A kept board older than this is from another day: the server's board replaces it.
const KEPT_FOR_MS = 12 * 3600 * 1000;
const recent = [];                // newest first: {ticket_id, number, window, recalls}
let services = [];
let boardAt = null;               // when the board was last read from the server
let keptStale = false;            // the restored board is too old to keep once the server answers
const announced = new Set();      // ticket_id:recalls already announced (or already on screen)
const queue = [];                 // announcements waiting their turn
let speaking = false;
let audio = null;
window.hallAnnouncements = [];    // what was announced, in order (the browser tests read it)

function callText(call) {
  // Spaced out so that speech reads "A 0 1 2" digit by digit, as halls announce numbers.
  const text = `请 ${call.number.split("").join(" ")} 号到 ${call.window} 号窗口办理`;
  return call.recalls > 0 ? `再次呼叫，${text}` : text;
}

function draw() {
  const now = recent[0];
  const box = $("now-call");
  box.textContent = now ? t("display.please", { ticket: now.number, window: now.window }) : "";
  box.classList.toggle("recalled", Boolean(now && now.recalls > 0));
  $("now-tag").hidden = !(now && now.recalls > 0);
  $("recent").innerHTML = recent.map((c) =>
    `<li data-ticket="${esc(c.number)}" data-recalls="${esc(c.recalls ?? 0)}"><span class="num">${esc(c.number)}</span>
     ${c.recalls > 0 ? `<span class="tag">${esc(t("display.recall"))}</span>` : ""}
     <span>${esc(t("window.number", { n: c.window }))}</span></li>`).join("");
}

function drawWaiting() {
  $("waiting").innerHTML = services.map((s) =>
    `<li data-service="${esc(s.code)}"><span>${esc(serviceName(s))}</span>
     <span class="count">${esc(t("display.people", { n: s.waiting }))}</span></li>`).join("");
}

// -- the board kept for a reload while the server is away --------------------------------

function keep() {
  boardAt = Date.now();
  const calls = recent.map(({ ticket_id, number, window, recalls }) => ({ ticket_id, number, window, recalls }));
  try {
    localStorage.setItem(BOARD_KEY, JSON.stringify({ at: boardAt, recent: calls, services }));
  } catch (error) {
    console.warn("board not kept", error);   // storage full or off: the live board still works
  }
}

function restore() {
  try {
    const kept = JSON.parse(localStorage.getItem(BOARD_KEY) ?? "null");
    if (!kept || !Array.isArray(kept.recent)) return;
    recent.push(...kept.recent.slice(0, RECENT));
    services = Array.isArray(kept.services) ? kept.services : [];
    boardAt = kept.at ?? null;
    keptStale = !boardAt || Date.now() - boardAt > KEPT_FOR_MS;
    // What was on the board is not announced again when the server is back.
    for (const call of recent) announced.add(`${call.ticket_id}:${call.recalls}`);
  } catch (error) {
    console.warn("kept board unreadable", error);
  }
}

function offline(isOffline) {
  document.body.classList.toggle("stale", isOffline);
  const mark = $("offline-mark");
  mark.hidden = !isOffline;
  mark.textContent = boardAt ? t("display.offline", { time: fmtTime(boardAt) }) : t("display.offline.none");
}

// -- the server's state ------------------------------------------------------------------

function remember(call) {
  const at = recent.findIndex((c) => c.ticket_id === call.ticket_id);
  if (at >= 0) recent.splice(at, 1);
  recent.unshift(call);
  recent.length = Math.min(recent.length, RECENT);
}

async function snapshot() {
  const response = await fetch(`${API}/live/display/snapshot`, { cache: "no-store" });
  if (!response.ok) return;
  const data = await response.json();
  if (keptStale) {
    recent.length = 0;
    keptStale = false;
  }
  // What is already on the board when the page (re)connects is shown, never announced again.
  const current = data.windows.filter((w) => w.current)
    .map((w) => w.current).sort((a, b) => (b.called_ms ?? 0) - (a.called_ms ?? 0));
  for (const call of current.reverse()) {
    announced.add(`${call.ticket_id}:${call.recalls}`);
    remember(call);
  }
  services = data.services;
  draw();
  drawWaiting();
  keep();
  offline(false);
}

// -- sound -------------------------------------------------------------------------------

function soundState() {
  const locked = !audio || audio.state !== "running";
  $("sound-locked").hidden = !locked;
  $("sound").dataset.i18n = locked ? "display.sound.on" : "display.sound.done";
  $("sound").textContent = t($("sound").dataset.i18n);
}

function chime() {
  try {
    if (!audio || audio.state !== "running") return 0;
    const start = audio.currentTime;
    [880, 660].forEach((freq, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.25, start + i * 0.35);
      gain.gain.exponentialRampToValueAtTime(0.001, start + i * 0.35 + 0.33);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + i * 0.35);
      osc.stop(start + i * 0.35 + 0.34);
    });
    return 750;
  } catch {
    return 0;
  }
}

function chineseVoice() {
  return "speechSynthesis" in window
    ? speechSynthesis.getVoices().find((v) => v.lang.replace("_", "-").toLowerCase().startsWith("zh")) : undefined;
}

// Voices load after the page; a browser that has none in Chinese only chimes, which staff must know.
function checkVoices() {
  const voice = chineseVoice();
  $("no-voice").hidden = Boolean(voice);
  window.hallDisplay.chineseVoice = voice ? voice.name : null;
}

function speak(text) {
  return new Promise((resolve) => {
    if (!("speechSynthesis" in window)) return resolve();
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = "zh-CN";
    utterance.rate = 0.9;
    const voice = chineseVoice();
    if (voice) utterance.voice = voice;
    // A device without a voice may never fire "end": never let one announcement block the rest.
    const guard = setTimeout(resolve, 1200 + text.length * 350);
    utterance.onend = utterance.onerror = () => { clearTimeout(guard); resolve(); };
    speechSynthesis.speak(utterance);
  });
}

async function drainAnnouncements() {
  if (speaking) return;
  speaking = true;
  while (queue.length) {
    const call = queue.shift();
    const text = callText(call);
    window.hallAnnouncements.push({ ticket: call.number, window: call.window, recall: call.recalls > 0, text, at: Date.now() });
    const li = document.createElement("li");
    li.textContent = text;
    $("announce-log").append(li);
    const box = $("now-call");
    box.classList.remove("flash", "recall-pulse");
    void box.offsetWidth;
    box.classList.add(call.recalls > 0 ? "recall-pulse" : "flash");
    const wait = chime();
    await new Promise((r) => setTimeout(r, wait));
    await speak(text);
    await speak(text);   // twice, as halls do; still one announcement
  }
  speaking = false;
}

function onTicket(data) {
  if (data.to !== "called" || data.window == null) {
    if (["waiting", "done", "no_show", "cancelled"].includes(data.to)) refreshWaiting();
    return;
  }
  const key = `${data.ticket_id}:${data.recalls}`;
  remember(data);
  draw();
  keep();
  refreshWaiting();
  if (announced.has(key)) return;
  announced.add(key);
  queue.push(data);
  drainAnnouncements();
}

let waitingTimer = null;
function refreshWaiting() {
  // Calls come in bursts at opening time: one snapshot read for a burst is enough.
  clearTimeout(waitingTimer);
  waitingTimer = setTimeout(async () => {
    try {
      const response = await fetch(`${API}/live/display/snapshot`, { cache: "no-store" });
      if (response.ok) {
        services = (await response.json()).services;
        drawWaiting();
        keep();
      }
    } catch (error) {
      console.warn("waiting counts not refreshed", error);   // the controller is away; retried
    }
  }, 300);
}

// -- staff controls ----------------------------------------------------------------------

// Staff who walk away without "done" leave no buttons on the hall's screen for long.
const STAFF_MS = 10 * 60 * 1000;
// A login form opened by a stray double-click must not cover the board for long.
const LOGIN_MS = 60 * 1000;
let staffOpen = false;
let staffTimer = null;
async function openStaff() {
  if (staffOpen) return;
  staffOpen = true;
  let loggedIn = false;
  const abandoned = setTimeout(() => {
    if (loggedIn) return;
    document.querySelector(".login-overlay")?.remove();
    staffOpen = false;
  }, LOGIN_MS);
  await requireLogin(["clerk", "facilities"]);
  loggedIn = true;
  clearTimeout(abandoned);
  $("staff-controls").hidden = false;
  staffTimer = setTimeout(closeStaff, STAFF_MS);
}

function closeStaff() {
  clearTimeout(staffTimer);
  // Forget the login without a reload: a reload would lock the sound again.
  for (const key of ["hall.token", "hall.role", "hall.user"]) sessionStorage.removeItem(key);
  $("staff-controls").hidden = true;
  staffOpen = false;
}

async function enableSound() {
  try {
    audio ??= new AudioContext();
    await audio.resume();
  } catch (error) {
    console.warn("sound not enabled", error);
  }
  // Speech too needs the user's action in some browsers: say something now, while we have it.
  if ("speechSynthesis" in window) speak(t("display.sound.test"));
  soundState();
}

function tick() {
  $("clock").textContent = formatWhen(Date.now());
}

function start() {
  window.hallDisplay = { chineseVoice: null };
  languageSwitch(() => { draw(); drawWaiting(); soundState(); offline(!$("offline-mark").hidden); });
  applyWords();
  restore();
  draw();
  drawWaiting();
  tick();
  setInterval(tick, 1000);
  try {
    audio = new AudioContext();   // running at once on a TV started with the autoplay flag
    audio.addEventListener("statechange", soundState);
    window.hallDisplay.audio = audio;   // the browser tests lock it as a TV without the flag is
  } catch (error) {
    console.warn("no audio", error);
  }
  soundState();
  if ("speechSynthesis" in window) speechSynthesis.addEventListener("voiceschanged", checkVoices);
  setTimeout(checkVoices, 1500);   // getVoices() is empty until the voices are loaded
  $("fullscreen").addEventListener("click", () => document.documentElement.requestFullscreen?.());
  $("sound").addEventListener("click", enableSound);
  $("staff-done").addEventListener("click", closeStaff);
  document.addEventListener("dblclick", openStaff);
  if (new URLSearchParams(location.search).has("staff")) openStaff();
  navigator.serviceWorker?.register("pages-sw.js").catch((error) => console.warn("no offline copy", error));
  liveStream("/live/display", {
    onStatus: (status) => {
      showLiveStatus(status);
      if (status === "reconnecting") offline(true);
    },
    onEvent: (name, data) => {
      // A failed read is retried by the next (re)connection's snapshot.
      if (name === "hello" || name === "resync") snapshot().catch((e) => console.warn("snapshot", e));
      else if (name === "ticket") onTicket(data);
    },
  });
}

start();
