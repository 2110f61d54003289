// Diagnostic (not a test): what the tracker's first task spends its time on. The real
// dist/tracking.js + wasm, served by the real collector (--demo), on a landing with
// ?aff=alice and the Trackdesk snippet's queued click, in headless Chromium with the CPU
// slowed 4x (as `npm run bench:browser`). Every wasm -> JavaScript import call made from the
// moment the wasm is instantiated until that task ends is counted and timed (its time
// includes whatever the browser does inside it: a storage area's first load, a fetch),
// and so is every Web Storage call.
//
//   node tests/bench/start-imports.mjs        (RUNS=8 by default; prints the median run)
//
// Import names are wasm-opt's one-letter names (scripts/minify-names.mjs); the glue in
// target/pkg/clicktrail.js shows what each one does.
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Collector, launchBrowser } from "../e2e/harness.mjs";

const RUNS = Number(process.env.RUNS || 8);
const SNIPPET = `(function(t,d,k){(t[k]=t[k]||[]).push(d);t[d]=t[d]||t[k].f||function(){(t[d].q=t[d].q||[]).push(arguments)}})(window,"trackdesk","TrackdeskObject");
trackdesk("demo", "click");`;
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<script async src="/tracking.js"></script><script>${SNIPPET}</script></head><body><h1>Acme shop</h1></body></html>`;

// Runs in the page before anything else: wraps the imports of the instance the loader
// creates, and Storage's methods; counting stops when the instantiating task ends.
const HOOK = () => {
  const calls = (window.__calls = {});
  const storage = (window.__storage = []);
  let counting = false;
  const wrap = (imports) => {
    for (const mod of Object.values(imports)) {
      for (const [name, f] of Object.entries(mod)) {
        if (typeof f !== "function") continue;
        mod[name] = function (...args) {
          if (!counting) return f.apply(this, args);
          const t = performance.now();
          try {
            return f.apply(this, args);
          } finally {
            const c = (calls[name] ||= { n: 0, ms: 0 });
            c.n += 1;
            c.ms += performance.now() - t;
          }
        };
      }
    }
    return imports;
  };
  let t0 = 0;
  const desc = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  Object.defineProperty(document, "cookie", {
    configurable: true,
    get: () => desc.get.call(document),
    set: (value) => {
      if (counting && String(value).startsWith("trakdesk_cid=") && window.__cookieMs === undefined) {
        window.__cookieMs = performance.now() - t0;
        window.__callsBeforeCookie = Object.values(calls).reduce((s, c) => s + c.n, 0);
      }
      desc.set.call(document, value);
    },
  });
  const Instance = WebAssembly.Instance;
  WebAssembly.Instance = function (module, imports) {
    counting = true;
    t0 = performance.now();
    setTimeout(() => {
      counting = false;
      window.__taskMs = performance.now() - t0;
    });
    return new Instance(module, wrap(imports));
  };
  for (const op of ["getItem", "setItem", "removeItem"]) {
    const f = Storage.prototype[op];
    Storage.prototype[op] = function (key, ...rest) {
      if (counting) storage.push(`${this === window.localStorage ? "local" : "session"}.${op}(${String(key).slice(0, 24)})`);
      return f.call(this, key, ...rest);
    };
  }
};

const www = mkdtempSync(join(tmpdir(), "clicktrail-start-"));
writeFileSync(join(www, "shop.html"), PAGE);
const collector = await new Collector({ www }).start();
const browser = await launchBrowser();
const runs = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.addInitScript(HOOK);
    const cdp = await context.newCDPSession(page);
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
    await page.goto(`${collector.origin}/shop.html?aff=alice`);
    await page.waitForFunction(() => window.__taskMs !== undefined, null, { timeout: 30000 });
    runs.push(await page.evaluate(() => ({ taskMs: window.__taskMs, cookieMs: window.__cookieMs,
      callsBeforeCookie: window.__callsBeforeCookie, calls: window.__calls, storage: window.__storage })));
    await context.close();
  }
} finally {
  await browser.close();
  await collector.stop();
  rmSync(www, { recursive: true, force: true });
}
runs.sort((a, b) => a.taskMs - b.taskMs);
const median = runs[runs.length >> 1];
const rows = Object.entries(median.calls).sort((a, b) => b[1].ms - a[1].ms);
const n = rows.reduce((s, [, c]) => s + c.n, 0);
const ms = rows.reduce((s, [, c]) => s + c.ms, 0);
console.log(`first task (instantiate + start), CPU 4x, ${RUNS} cold loads: ${runs.map((r) => r.taskMs.toFixed(0)).join(" ")} ms`);
console.log(`cookie written after (ms from instantiation): ${runs.map((r) => (r.cookieMs ?? NaN).toFixed(0)).join(" ")}`);
console.log(`median run: ${median.callsBeforeCookie} import calls before the cookie write`);
console.log(`median run: ${n} import calls (${rows.length} distinct), ${ms.toFixed(1)} ms inside them`);
console.log("storage calls:", median.storage.join(" "));
console.log("  calls      ms  import");
for (const [name, c] of rows.slice(0, 15)) console.log(`${String(c.n).padStart(7)} ${c.ms.toFixed(1).padStart(7)}  ${name}`);
