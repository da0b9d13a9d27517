// The public display: current calls large, recent calls, waiting counts per service. Each new
// call (or recall) is announced once: a chime, then zh-CN speech, one announcement at a time.
import { API, applyWords, esc, formatWhen, languageSwitch, liveStream, serviceName, showLiveStatus, t } from "./common.js";

const RECENT = 8;
const recent = [];                // newest first: {key, number, window}
const announced = new Set();      // ticket_id:recalls already announced (or already on screen)
const queue = [];                 // announcements waiting their turn
let speaking = false;
let audio = null;
window.hallAnnouncements = [];    // what was announced, in order (the browser tests read it)

function callText(call, language = "zh") {
  if (language === "zh") {
    // Spaced out so that speech reads "A 0 1 2" digit by digit, as halls announce numbers.
    return `请 ${call.number.split("").join(" ")} 号到 ${call.window} 号窗口办理`;
  }
  return t("display.please", { ticket: call.number, window: call.window });
}

function draw() {
  const now = recent[0];
  const box = document.getElementById("now-call");
  box.textContent = now ? t("display.please", { ticket: now.number, window: now.window }) : "";
  document.getElementById("recent").innerHTML = recent.map((c) =>
    `<li data-ticket="${esc(c.number)}"><span class="num">${esc(c.number)}</span>
     <span>${esc(t("window.number", { n: c.window }))}</span></li>`).join("");
}

function drawWaiting(services) {
  document.getElementById("waiting").innerHTML = services.map((s) =>
    `<li data-service="${esc(s.code)}"><span>${esc(serviceName(s))}</span>
     <span class="count">${esc(t("display.people", { n: s.waiting }))}</span></li>`).join("");
}

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
  // What is already on the board when the page (re)connects is shown, never announced again.
  const current = data.windows.filter((w) => w.current)
    .map((w) => w.current).sort((a, b) => (b.called_ms ?? 0) - (a.called_ms ?? 0));
  for (const call of current.reverse()) {
    announced.add(`${call.ticket_id}:${call.recalls}`);
    remember(call);
  }
  draw();
  drawWaiting(data.services);
}

function chime() {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") {
      document.getElementById("sound").hidden = false;
      return 0;
    }
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

function speak(text) {
  return new Promise((resolve) => {
    if (!("speechSynthesis" in window)) return resolve();
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = "zh-CN";
    utterance.rate = 0.9;
    const voice = speechSynthesis.getVoices().find((v) => v.lang.replace("_", "-").startsWith("zh"));
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
    window.hallAnnouncements.push({ ticket: call.number, window: call.window, text, at: Date.now() });
    const li = document.createElement("li");
    li.textContent = text;
    document.getElementById("announce-log").append(li);
    const box = document.getElementById("now-call");
    box.classList.remove("flash");
    void box.offsetWidth;
    box.classList.add("flash");
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
      if (response.ok) drawWaiting((await response.json()).services);
    } catch (error) {
      console.warn("waiting counts not refreshed", error);   // the controller is away; retried
    }
  }, 300);
}

function tick() {
  document.getElementById("clock").textContent = formatWhen(Date.now());
}

languageSwitch(() => { draw(); refreshWaiting(); });
applyWords();
tick();
setInterval(tick, 1000);
document.getElementById("fullscreen").addEventListener("click", () => document.documentElement.requestFullscreen?.());
document.getElementById("sound").addEventListener("click", async (event) => {
  await audio?.resume();
  event.target.hidden = true;
});
liveStream("/live/display", {
  onStatus: showLiveStatus,
  onEvent: (name, data) => {
    // A failed read is retried by the next (re)connection's snapshot.
    if (name === "hello" || name === "resync") snapshot().catch((e) => console.warn("snapshot", e));
    else if (name === "ticket") onTicket(data);
  },
});
