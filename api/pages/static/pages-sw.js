// The pages' service worker: a copy of the pages' own files for when the server is away, so
// that the hall's display and kiosks, reloaded (or restarted) during an outage, still open:
// the display with its last known calls, the kiosk with its offline notice. Network first,
// always: a page online gets the server's current files, and the copy follows. Only GETs of
// /pages/ are handled; the API (and its live streams) never goes through here.
const CACHE = "hall-pages-v1";
const PRECACHE = [
  "display.html", "display.js", "display.css", "words-display.js",
  "kiosk.html", "kiosk.js", "kiosk.css", "words-kiosk.js",
  "common.js", "common.css", "favicon.svg",
];
// A server that neither answers nor refuses (a half-dead network) must not hang the screen.
const NETWORK_TIMEOUT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), NETWORK_TIMEOUT_MS)),
    ]);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    // ?staff=1, ?idle=… are the same file.
    const copy = await cache.match(request, { ignoreSearch: true });
    if (copy) return copy;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin
      || !url.pathname.startsWith("/pages/")) return;
  event.respondWith(networkFirst(event.request));
});
