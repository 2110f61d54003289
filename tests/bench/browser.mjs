// Browser benchmark (not a test): the tracker against a real peer script on the same page
// set-up, served by one Node server that compresses every script the same way (brotli,
// quality 11, as a CDN serves precompressed files), over cold loads in headless Chromium
// with the DevTools protocol's emulation: 50 ms round trip, 1.6 Mbps down / 750 kbps up,
// CPU slowed 4x. Variants are interleaved load by load so drift hits all alike.
//
//   none        the page without any tracker (the page's own cost)
//   floor       a minimal plain-JS tracker of our own (read ?aff=, write the cookie, POST the click)
//   plausible   Plausible's real script from npm (@plausible-analytics/tracker, ESM, init())
//   clicktrail  what ships (dist/): tracking.js carries the click module (hex, compiled off
//               the main thread), which writes the cookie and sends the click; the full module
//               (clicktrail_full.<id>.js + clicktrail_bg.<id>.wasm) waits for a need (a call,
//               an answer the cookie does not hold, a CID field, a navigation: none here)
//   clicktrail-fetched  the same with the click module fetched beside the loader
//               (target/size/tracking-fetched.js + clicktrail_click.<hash>.wasm, not shipped)
//   onemodule   the earlier design: one loader with the glue, the all-modes full module before
//               the cookie (js/loader.js of the last one-module commit, from git, bundled here
//               with this build's glue)
//   clicktrail-preload  the shipped tracker with <link rel=preload as=fetch crossorigin> of the
//               full module in the page's <head> (docs/install.md)
//   wasm-floor  the floor, but it writes its cookie only after downloading and compiling a
//               do-nothing wasm as large on the wire as ours (random bytes in a custom
//               section: brotli cannot shrink them): the earliest cookie of ANY tracker that
//               waits for a wasm of our size, with almost no CPU of its own
//
// The peer: the issue names Dub's script, but npm @dub/analytics holds only a loader that
// injects https://www.dubcdn.com/analytics/script.js (unreachable here, and not in the
// package), so Plausible's real script stands in. Plausible writes no cookie: its milestone
// is the first event it sends; ours and the floor's is the trakdesk_cid cookie write.
//
// Per variant: bytes on the wire of the scripts (encoded, with headers), time from
// navigation start to the milestone, main-thread time (CDP Performance TaskDuration, the
// renderer's busy time, and ScriptDuration), and loads with a task > 50 ms (Long Tasks API).
// RUNS=20 by default (>= 20 cold loads each).
//
// AB=FILE: an A/B pair in one interleaved run: variant clicktrail-b is FILE (another build of
// tracking.js, e.g. the loader with one change undone) served as /b/tracking.js beside the
// same second script and full module (data-endpoint="/": the same collector path and
// first-party mode as clicktrail's); the run prints its ratios to clicktrail. Small loader
// changes are lost in the run-to-run noise of sequential runs; interleaved, the machine's
// drift hits both alike.
//
// RETURNING=1: a returning visitor's page instead of a landing: no code in the URL, a valid
// trakdesk_cid cookie held, nothing in the outbox. Variants: plausible (its page view),
// clicktrail (what ships: the click module decides there is nothing to do, the full module
// waits for a need; milestone: the loader's `ct:ran` mark) and clicktrail-full (the same page
// with data-stripe="links", which starts the full module in idle time, as every returning
// visitor's page did before; milestone: the full module started).
import http from "node:http";
import { readFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { brotliCompressSync, gzipSync, constants as zlib } from "node:zlib";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { Collector, launchBrowser, freePort, ROOT, wasmFile, buildId } from "../e2e/harness.mjs";

const WASM = `/${wasmFile()}`;
const DIST = join(ROOT, "dist");
const SIZE = join(ROOT, "target/size");
const CLICK_WASM = `/${/clicktrail_click\.[0-9a-f]{8}\.wasm/.exec(readFileSync(join(SIZE, "tracking-fetched.js"), "latin1"))[0]}`;
const FULL_JS = `/clicktrail_full.${buildId()}.js`;
// the earlier one-module design: every mode in one wasm, so the all-modes full module (x),
// whose glue scripts/build.sh leaves in target/pkg (it builds x last)
const X_ID = readFileSync(join(ROOT, "target/size/clicktrail_bg.x.wasm")).subarray(-8).toString("latin1");
// Its loader is js/loader.js as it was at ONEMODULE (the last one-module commit), read from
// git, its glue import pointed at this build's.
const ONEMODULE = "dd5aeab";
mkdirSync(join(ROOT, "target/bench"), { recursive: true });
const oneLoader = join(ROOT, "target/bench/onemodule-loader.js");
writeFileSync(oneLoader, execFileSync("git", ["-C", ROOT, "show", `${ONEMODULE}:js/loader.js`], { encoding: "utf8" })
  .replace('"../target/pkg/clicktrail.js"', JSON.stringify(join(ROOT, "target/pkg/clicktrail.js"))));
execFileSync(join(ROOT, "node_modules/.bin/esbuild"), [oneLoader, "--bundle",
  "--format=iife", "--minify", "--target=es2018", "--log-override:empty-import-meta=silent", "--legal-comments=none",
  `--define:CT_BUILD="${X_ID}"`, `--outfile=${join(ROOT, "target/bench/onemodule.js")}`, "--log-level=warning"],
{ stdio: "inherit" });

const RUNS = Number(process.env.RUNS || 20);
const LATENCY = 50;
const DOWN = (1.6e6 / 8) | 0; // bytes per second
const UP = (750e3 / 8) | 0;
const CPU = 4;
const SETTLE_MS = 1500; // after the milestone: deferred work (outbox, observers) counts too
const RETURNING = process.env.RETURNING === "1";
const AB = process.env.AB;
const RETURNING_CID = "0a0b0c0d-0000-4000-8000-000000000000";

const dubDist = join(ROOT, "node_modules/@dub/analytics/dist/index.js");
const dubNote = existsSync(dubDist) && /dubcdn\.com/.test(readFileSync(dubDist, "utf8"))
  ? "npm @dub/analytics has only a loader for https://www.dubcdn.com/analytics/script.js (not in the package, unreachable): Plausible's real script is the peer"
  : "npm @dub/analytics not installed: Plausible's real script is the peer";

const FLOOR_JS = `(function () {
  var aff = new URLSearchParams(location.search).get("aff");
  if (!aff) return;
  var b = crypto.getRandomValues(new Uint8Array(16)); b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
  var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  var cid = h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  document.cookie = "trakdesk_cid=" + JSON.stringify({ tenantId: "demo", cid: cid }) + "; Path=/; Max-Age=5184000; SameSite=Lax";
  fetch("/tracking/click/v1", { method: "POST", keepalive: true, credentials: "omit", headers: { "Content-Type": "text/plain" },
    body: JSON.stringify({ tenantId: "demo", cid: cid, aff: aff, url: location.href, referrer: document.referrer, eventId: crypto.randomUUID() }) });
})();`;

const PAGE = (tag) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto}</style>
${tag}
</head><body><h1>Acme shop</h1>
${"<p>Everything you need, shipped fast. Pick a plan and start today; cancel any time.</p>".repeat(20)}
</body></html>`;

// A valid, empty wasm module whose custom section holds `size` random bytes (incompressible).
function ballastWasm(size) {
  const leb = (n) => { const out = []; do { let b = n & 127; n >>>= 7; if (n) b |= 128; out.push(b); } while (n); return out; };
  const payload = Buffer.concat([Buffer.from([1, 0x78]), randomBytes(size)]); // name "x"
  return Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0]), Buffer.from(leb(payload.length)), payload]);
}
const BALLAST = ballastWasm(brotliCompressSync(readFileSync(join(ROOT, "dist", WASM.slice(1))),
  { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }).length);
const WASM_FLOOR_JS = `WebAssembly.compileStreaming(fetch("/ballast.wasm")).then(function () {
${FLOOR_JS}
});`;

const SNIPPET = `(function(t,d,k){(t[k]=t[k]||[]).push(d);t[d]=t[d]||t[k].f||function(){(t[d].q=t[d].q||[]).push(arguments)}})(window,"trackdesk","TrackdeskObject");
trackdesk("demo", "click");`;

const VARIANTS = {
  none: PAGE(""),
  floor: PAGE(`<script async src="/floor.js"></script>`),
  plausible: PAGE(`<script type="module">import { init } from "/plausible.js";
init({ domain: "shop.example", endpoint: "/api/event", captureOnLocalhost: true });</script>`),
  clicktrail: PAGE(`<script async src="/tracking.js"></script><script>${SNIPPET}</script>`),
  "clicktrail-preload": PAGE(`<link rel="preload" as="fetch" crossorigin href="${WASM}">
<script async src="/tracking.js"></script><script>${SNIPPET}</script>`),
  "wasm-floor": PAGE(`<script async src="/wasm-floor.js"></script>`),
  // data-endpoint: the collector is at the root here, not beside the script
  "clicktrail-fetched": PAGE(`<script async src="/cf/tracking.js" data-endpoint="/"></script><script>${SNIPPET}</script>`),
  onemodule: PAGE(`<script async src="/one/tracking.js" data-endpoint="/"></script><script>${SNIPPET}</script>`),
};
if (AB) VARIANTS["clicktrail-b"] = PAGE(`<script async src="/b/tracking.js" data-endpoint="/"></script><script>${SNIPPET}</script>`);
if (RETURNING) {
  VARIANTS["clicktrail-full"] = PAGE(`<script async src="/tracking.js" data-stripe="links"></script><script>${SNIPPET}</script>`);
  for (const v of Object.keys(VARIANTS)) if (!["plausible", "clicktrail", "clicktrail-full"].includes(v)) delete VARIANTS[v];
}
// ONLY=a,b: a subset of the variants (plausible and clicktrail are always kept for the ratios)
if (process.env.ONLY) {
  const keep = new Set([...process.env.ONLY.split(","), "plausible", "clicktrail", "clicktrail-b"]);
  for (const v of Object.keys(VARIANTS)) if (!keep.has(v)) delete VARIANTS[v];
}

const FILES = {
  "/tracking.js": ["application/javascript", readFileSync(join(DIST, "tracking.js"))],
  [FULL_JS]: ["application/javascript", readFileSync(join(DIST, FULL_JS))],
  [WASM]: ["application/wasm", readFileSync(join(DIST, WASM))],
  "/plausible.js": ["application/javascript",
    readFileSync(join(ROOT, "node_modules/@plausible-analytics/tracker/plausible.js"))],
  "/floor.js": ["application/javascript", Buffer.from(FLOOR_JS)],
  "/wasm-floor.js": ["application/javascript", Buffer.from(WASM_FLOOR_JS)],
  "/ballast.wasm": ["application/wasm", BALLAST],
  "/cf/tracking.js": ["application/javascript", readFileSync(join(SIZE, "tracking-fetched.js"))],
  [`/cf${CLICK_WASM}`]: ["application/wasm", readFileSync(join(SIZE, CLICK_WASM))],
  [`/cf${FULL_JS}`]: ["application/javascript", readFileSync(join(DIST, FULL_JS))],
  [`/cf${WASM}`]: ["application/wasm", readFileSync(join(DIST, WASM))],
  "/one/tracking.js": ["application/javascript", readFileSync(join(ROOT, "target/bench/onemodule.js"))],
  [`/one/clicktrail_bg.${X_ID}.wasm`]: ["application/wasm", readFileSync(join(DIST, `clicktrail_bg.${X_ID}.wasm`))],
  ...(AB ? {
    "/b/tracking.js": ["application/javascript", readFileSync(AB)],
    [`/b${FULL_JS}`]: ["application/javascript", readFileSync(join(DIST, FULL_JS))],
    [`/b${WASM}`]: ["application/wasm", readFileSync(join(DIST, WASM))],
  } : {}),
};
const COMPRESSED = Object.fromEntries(Object.entries(FILES).map(([path, [type, raw]]) => [path, {
  type, raw,
  br: brotliCompressSync(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }),
  gzip: gzipSync(raw, { level: 9 }),
}]));

// Stamps the milestones from navigation start: the first trakdesk_cid write through
// document.cookie, the first fetch/sendBeacon, and every long task.
const PROBE = () => {
  window.__plausible = true; // Plausible ignores navigator.webdriver browsers otherwise
  const desc = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  Object.defineProperty(document, "cookie", {
    configurable: true,
    get: () => desc.get.call(document),
    set: (value) => {
      if (String(value).startsWith("trakdesk_cid=") && !window.__cookieAt) window.__cookieAt = performance.now();
      desc.set.call(document, value);
    },
  });
  const stamp = () => { if (!window.__sentAt) window.__sentAt = performance.now(); };
  const f = window.fetch;
  window.fetch = function (input, init) {
    if (init && init.method === "POST") stamp();
    return f.apply(this, arguments);
  };
  const b = navigator.sendBeacon && navigator.sendBeacon.bind(navigator);
  if (b) navigator.sendBeacon = (...a) => { stamp(); return b(...a); };
  window.__long = [];
  try {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); })
      .observe({ type: "longtask", buffered: true });
  } catch { /* no Long Tasks API */ }
};

// blink.user_timing: the loader's `ct:full` mark (the second script added) splits the two
// modules' own time
const TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8", "v8.wasm", "blink.user_timing"];
const SCRIPTS = {
  floor: ["/floor.js"],
  plausible: ["/plausible.js"],
  clicktrail: ["/tracking.js", FULL_JS, WASM],
  "clicktrail-full": ["/tracking.js", FULL_JS, WASM],
  "clicktrail-b": ["/b/tracking.js", `/b${FULL_JS}`, `/b${WASM}`],
  "clicktrail-preload": ["/tracking.js", FULL_JS, WASM],
  "wasm-floor": ["/wasm-floor.js", "/ballast.wasm"],
  "clicktrail-fetched": ["/cf/tracking.js", `/cf${CLICK_WASM}`, `/cf${FULL_JS}`, `/cf${WASM}`],
  // a name ending in .wasm makes every V8 wasm event the variant's (the inline click module's
  // too, for the two-module variants)
  onemodule: ["/one/tracking.js", `/one/clicktrail_bg.${X_ID}.wasm`],
};

/**
 * From a Chromium trace: the renderer main thread's tasks (RunTask) that ran the variant's
 * own code (an event inside them names one of its script URLs, or is a V8 wasm event),
 * their total, and how many of them took more than 50 ms. The page's own parse, style and
 * layout are not counted, so the bare page's long tasks do not hide the script's.
 */
function attribute(trace, paths) {
  const events = trace.traceEvents || trace;
  const main = events.find((e) => e.ph === "M" && e.name === "thread_name" && e.args && e.args.name === "CrRendererMain"
    && events.some((x) => x.pid === e.pid && x.tid === e.tid && x.name === "RunTask"));
  if (!main || !paths.length) return { own: 0, long: 0, longest: 0, late: NaN };
  const onMain = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === "X" && typeof e.dur === "number");
  const urlOf = (e) => (e.args && ((e.args.data && (e.args.data.url || e.args.data.scriptName || e.args.data.stackTrace?.[0]?.url))
    || e.args.url || e.args.fileName || e.args.file)) || "";
  const ours = (e) => paths.some((p) => String(urlOf(e)).split("?")[0].endsWith(p))
    || (paths.some((p) => p.endsWith(".wasm")) && /wasm/i.test(e.name) && e.name !== "RunTask");
  const tasks = onMain.filter((e) => e.name === "RunTask").sort((a, b) => a.ts - b.ts);
  const marks = onMain.filter((e) => e.name !== "RunTask" && ours(e));
  // own time in tasks that start after the loader added the second script: the full module's
  const full = events.find((e) => e.name === "ct:full")?.ts;
  let own = 0, long = 0, longest = 0, late = full === undefined ? NaN : 0;
  for (const task of tasks) {
    if (!marks.some((m) => m.ts >= task.ts && m.ts <= task.ts + task.dur)) continue;
    const ms = task.dur / 1000;
    own += ms;
    if (task.ts >= full) late += ms;
    if (ms > 50) long += 1;
    longest = Math.max(longest, ms);
  }
  return { own, long, longest, late };
}

function serve(collector) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const variant = url.pathname.slice(1);
    if (req.method === "GET" && VARIANTS[variant] !== undefined) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      return res.end(VARIANTS[variant]);
    }
    const file = COMPRESSED[url.pathname];
    if (file) {
      const accept = req.headers["accept-encoding"] || "";
      const enc = /\bbr\b/.test(accept) ? "br" : /gzip/.test(accept) ? "gzip" : null;
      const body = enc ? file[enc] : file.raw;
      res.writeHead(200, { "content-type": file.type, "content-length": body.length, "cache-control": "no-store",
        ...(enc ? { "content-encoding": enc, vary: "accept-encoding" } : {}) });
      return res.end(body);
    }
    if (url.pathname === "/api/event") { // Plausible's endpoint: a local stand-in
      req.resume();
      res.writeHead(202, { "content-type": "text/plain" });
      return res.end("ok");
    }
    // the tracker's endpoints: the real collector (release build)
    const up = http.request({ host: "127.0.0.1", port: collector.port, method: req.method, path: req.url, headers: req.headers },
      (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
    up.on("error", () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  return server;
}

async function load(browser, origin, variant) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: LATENCY, downloadThroughput: DOWN, uploadThroughput: UP,
  });
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: CPU });
  await cdp.send("Performance.enable");
  const sizes = new Map();
  const urls = new Map();
  cdp.on("Network.responseReceived", (e) => urls.set(e.requestId, e.response.url));
  cdp.on("Network.loadingFinished", (e) => sizes.set(e.requestId, e.encodedDataLength));
  // the click's answer: every variant of ours must be a click the collector accepted
  const answers = [];
  page.on("response", (r) => {
    if (r.url().endsWith("/tracking/click/v1")) answers.push(r.status());
  });
  await page.addInitScript(PROBE);
  await browser.startTracing(page, { categories: TRACE_CATEGORIES });
  if (RETURNING) {
    await context.addCookies([{ name: "trakdesk_cid", value: JSON.stringify({ tenantId: "demo", cid: RETURNING_CID }), url: origin }]);
  }
  await page.goto(`${origin}/${variant}${RETURNING ? "" : "?aff=alice"}`, { waitUntil: "load" });
  const milestone = variant === "plausible" ? "__sentAt" : "__cookieAt";
  if (RETURNING && variant !== "plausible") {
    // the click module's decision; with the full module, its start
    const mark = variant === "clicktrail" ? "ct:ran" : "ct:full-started";
    await page.waitForFunction((m) => performance.getEntriesByName(m).length, mark, { timeout: 30000 });
  } else if (variant !== "none") {
    await page.waitForFunction((m) => window[m], milestone, { timeout: 30000 });
  }
  // the two-module tracker: the click's answer checked by the loader is its end (the full
  // module, when that answer or the page needs it, starts within the settle time); the old
  // design: its full module started
  if (RETURNING) {
    // nothing more to wait for
  } else if (/^clicktrail/.test(variant)) {
    await page.waitForFunction(() => performance.getEntriesByName("ct:answer").length, null, { timeout: 30000 });
  } else if (variant === "onemodule") {
    await page.waitForFunction(() => window.TrackdeskObject && window.TrackdeskObject.f, null, { timeout: 30000 });
  }
  await page.waitForTimeout(SETTLE_MS);
  const t = await page.evaluate(() => ({ cookie: window.__cookieAt, sent: window.__sentAt, long: window.__long,
    // the loader's performance marks (js/loader.js, js/full.js)
    marks: Object.fromEntries(performance.getEntriesByType("mark").filter((m) => m.name.startsWith("ct:"))
      .map((m) => [m.name, m.startTime])) }));
  const metrics = Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
  const trace = attribute(JSON.parse((await browser.stopTracing()).toString("utf8")), SCRIPTS[variant] || []);
  let bytes = 0;
  for (const [id, size] of sizes) {
    const u = urls.get(id) || "";
    if (/\/(tracking\.js|clicktrail_(click|bg)\.[0-9a-f]{8}\.wasm|clicktrail_full\.[0-9a-f]{8}\.js|plausible\.js|(wasm-)?floor\.js|ballast\.wasm)$/.test(new URL(u, origin).pathname)) bytes += size;
  }
  const cookie = (await context.cookies()).find((c) => c.name === "trakdesk_cid")?.value ?? null;
  await context.close();
  return {
    marks: t.marks,
    answers,
    cookie,
    milestone: variant === "none" ? null : (variant === "plausible" ? t.sent
      : RETURNING ? t.marks[variant === "clicktrail" ? "ct:ran" : "ct:full-started"] : t.cookie),
    sent: t.sent ?? null,
    task: metrics.TaskDuration * 1000,
    own: trace.own,
    ownLate: trace.late,
    ownLong: trace.long,
    ownLongest: trace.longest,
    script: metrics.ScriptDuration * 1000,
    longTasks: t.long.length,
    longest: t.long.length ? Math.max(...t.long) : 0,
    bytes,
  };
}

const median = (xs) => {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const p95 = (xs) => {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)] : NaN;
};

const collector = await new Collector().start();
const server = serve(collector);
const port = await freePort();
await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${port}`;
const browser = await launchBrowser();
const results = Object.fromEntries(Object.keys(VARIANTS).map((v) => [v, []]));
try {
  console.log(`browser benchmark: ${RUNS} cold loads per variant, interleaved; ${LATENCY} ms RTT, ` +
    `${DOWN * 8 / 1e6} Mbps down / ${UP * 8 / 1e3} kbps up, CPU ${CPU}x slower (Chromium ${browser.version()})`);
  console.log(`peer: ${dubNote}`);
  console.log("scripts served with brotli q11 (same for all):",
    Object.entries(COMPRESSED).map(([p, f]) => `${p} ${f.raw.length} B -> br ${f.br.length} B`).join(", "));
  // one warm-up round (not counted): process start-up, collector's first writes
  for (const v of Object.keys(VARIANTS)) await load(browser, origin, v);
  for (let i = 0; i < RUNS; i++) {
    for (const v of Object.keys(VARIANTS)) results[v].push(await load(browser, origin, v));
    process.stdout.write(`\r${i + 1}/${RUNS} rounds`);
  }
  process.stdout.write("\n");
} finally {
  await browser.close();
  server.close();
  await collector.stop();
}

// what each variant sent and kept (a check of the prototype, not a figure)
for (const [v, rs] of Object.entries(results)) {
  if (!/^click/.test(v)) continue;
  const statuses = rs.flatMap((r) => r.answers).join(",");
  const cookies = rs.filter((r) => r.cookie && /"cid":"[0-9a-f-]{36}"/.test(r.cookie)).length;
  console.log(`${v}: click answers ${statuses || "none"}; loads ending with a trakdesk_cid cookie: ${cookies} of ${rs.length}`);
}
// where the two-module tracker's time goes (p50 ms between its performance marks)
const SPANS = [["click module run -> cookie", "ct:run", "cookie"],
  ["click module run (all)", "ct:run", "ct:ran"], ["cookie -> full module started", "cookie", "ct:full-started"],
  ["full module initSync + start", "ct:full-init", "ct:full-started"]];
for (const [v, rs] of Object.entries(results)) {
  if (!/^clicktrail/.test(v)) continue;
  const spans = SPANS.map(([label, a, b]) => {
    const xs = rs.map((r) => (b === "cookie" ? r.milestone : r.marks?.[b]) - (a === "cookie" ? r.milestone : r.marks?.[a]));
    return `${label} ${(median(xs.filter(Number.isFinite)) || NaN).toFixed?.(0)}`;
  });
  console.log(`${v} (p50 ms): ${spans.filter((x) => !/NaN/.test(x)).join("; ")}`);
  // when each of the loader's marks came (p50 ms since navigation start), the cookie beside them
  const p50 = (pick) => median(rs.map(pick).filter(Number.isFinite));
  const at = [...new Set(rs.flatMap((r) => Object.keys(r.marks || {})))]
    .map((n) => [n, p50((r) => r.marks?.[n])])
    .sort((a, b) => a[1] - b[1]);
  console.log(`${v} marks (p50 ms since navigation): ${at.map(([n, ms]) => `${n} ${ms.toFixed(0)}`).join(", ")}; ` +
    `${RETURNING ? "milestone" : "cookie"} ${p50((r) => r.milestone).toFixed(0)}`);
  // own main-thread time before the second script is added (the loader, the click module) and
  // after it (the full module's glue, compile, start and start-up tasks)
  const late = median(rs.map((r) => r.ownLate).filter(Number.isFinite));
  const all = median(rs.map((r) => r.own));
  if (Number.isFinite(late)) console.log(`${v} own main-thread (p50 ms of the per-load split): before the full module ` +
    `${median(rs.map((r) => r.own - r.ownLate).filter(Number.isFinite)).toFixed(0)}, the full module ${late.toFixed(0)} (all ${all.toFixed(0)})`);
}
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(0) : "-");
const rows = {};
console.log("");
console.log("| variant | bytes on the wire (scripts) | time to cookie* p50 / p95 ms | main-thread ms in its own tasks p50 | longest own task p50 ms | loads with an own task > 50 ms | page main-thread ms p50 (all tasks) | loads with any task > 50 ms (Long Tasks API) |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
for (const [v, rs] of Object.entries(results)) {
  const row = {
    bytes: median(rs.map((r) => r.bytes)),
    ms: median(rs.map((r) => r.milestone)),
    ms95: p95(rs.map((r) => r.milestone)),
    own: median(rs.map((r) => r.own)),
    longest: median(rs.map((r) => r.ownLongest)),
    ownLong: rs.filter((r) => r.ownLong > 0).length,
    task: median(rs.map((r) => r.task)),
    long: rs.filter((r) => r.longTasks > 0).length,
  };
  rows[v] = row;
  console.log(`| ${v} | ${row.bytes} | ${f1(row.ms)} / ${f1(row.ms95)} | ${f1(row.own)} | ${f1(row.longest)} | ${row.ownLong} of ${rs.length} | ${f1(row.task)} | ${row.long} of ${rs.length} |`);
}
console.log("* plausible writes no cookie: its column is the time to its first event send");
const ratio = (a, b) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : "-");
const c = rows.clicktrail;
const p = rows.plausible;
console.log("");
console.log(`clicktrail / plausible: bytes ${ratio(c.bytes, p.bytes)}, time to milestone ${ratio(c.ms, p.ms)}, ` +
  `main-thread (own tasks) ${ratio(c.own, p.own)}, page main-thread ${ratio(c.task, p.task)}, ` +
  `loads with an own task > 50 ms ${c.ownLong} vs ${p.ownLong} (of ${RUNS})`);
if (rows.floor) console.log(`clicktrail / floor:     bytes ${ratio(c.bytes, rows.floor.bytes)}, time to cookie ${ratio(c.ms, rows.floor.ms)}, ` +
  `main-thread (own tasks) ${ratio(c.own, rows.floor.own)}`);
const b = rows["clicktrail-b"];
if (b) console.log(`clicktrail-b / clicktrail (A/B, ${AB}): bytes ${b.bytes} vs ${c.bytes}, time to cookie ${ratio(b.ms, c.ms)}, ` +
  `main-thread (own tasks) ${ratio(b.own, c.own)} (${f1(b.own)} vs ${f1(c.own)} ms), loads with an own task > 50 ms ${b.ownLong} vs ${c.ownLong}`);
for (const v of ["clicktrail-fetched", "onemodule"]) {
  const r = rows[v];
  if (r) console.log(`${v} / plausible: bytes ${ratio(r.bytes, p.bytes)}, time to cookie ${ratio(r.ms, p.ms)}, ` +
    `main-thread (own tasks) ${ratio(r.own, p.own)}, loads with an own task > 50 ms ${r.ownLong} vs ${p.ownLong} (of ${RUNS})`);
}
const pre = rows["clicktrail-preload"];
const wf = rows["wasm-floor"];
if (pre) console.log(`clicktrail-preload / plausible: time to cookie ${ratio(pre.ms, p.ms)}, main-thread (own tasks) ${ratio(pre.own, p.own)}`);
if (wf) console.log(`wasm-floor / plausible: time to cookie ${ratio(wf.ms, p.ms)} (the lower bound for a cookie that waits for ` +
  `${BALLAST.length} B of wasm; ${f1(wf.ms - p.ms)} ms after the peer's milestone, against ${f1(0.2 * p.ms)} ms allowed by 1.2x)`);
console.log("targets: time to cookie <= 1.2x the peer; main-thread <= 1.5x the peer; loads with an own task > 50 ms at most the peer's + 1 of 20");
