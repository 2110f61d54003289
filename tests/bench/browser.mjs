// Time to CID (a benchmark, not a test): in headless Chromium, over many cold page
// loads, the time from navigation start to the click callback and to the
// trakdesk_cid cookie being written, with no network delay and with 50 ms round
// trips emulated through the DevTools protocol. Prints medians and p95.
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Collector, launchBrowser } from "../e2e/harness.mjs";

const RUNS = Number(process.env.RUNS || 40);
const PROFILES = [
  { name: "no added latency", latency: 0 },
  { name: "50 ms round trip", latency: 50 },
];

// Stamps the moment the tracker writes the cookie (performance.now() is relative to
// navigation start) by wrapping the document.cookie setter before any script runs.
const COOKIE_PROBE = () => {
  const desc = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  Object.defineProperty(document, "cookie", {
    get: () => desc.get.call(document),
    set: (value) => {
      if (String(value).startsWith("trakdesk_cid=") && !window.__cookieAt) window.__cookieAt = performance.now();
      desc.set.call(document, value);
    },
  });
};

const html = `<!doctype html><title>bench</title>
<script async src="/tracking.js"></script>
<script>
(function(t,d,k){(t[k]=t[k]||[]).push(d);t[d]=t[d]||t[k].f||function(){(t[d].q=t[d].q||[]).push(arguments)}})(window,"trackdesk","TrackdeskObject");
trackdesk("demo", "click", {}, function () { window.__callbackAt = performance.now(); });
</script>`;

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const pick = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: pick(0.5), p95: pick(0.95) };
}

// The page is a real file served by the collector: requests intercepted by Playwright
// (page.route) would bypass the DevTools network emulation.
const www = mkdtempSync(join(tmpdir(), "clicktrail-bench-"));
writeFileSync(join(www, "bench.html"), html);
const collector = await new Collector({ www }).start();
const browser = await launchBrowser();
try {
  console.log(`time to CID over ${RUNS} cold loads per profile (ms from navigation start)`);
  console.log(`${"profile".padEnd(20)}${"callback p50".padStart(14)}${"p95".padStart(8)}${"cookie p50".padStart(12)}${"p95".padStart(8)}  requests before CID`);
  for (const profile of PROFILES) {
    const callback = [];
    const cookie = [];
    let before = "";
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send("Network.enable");
      await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
      if (profile.latency) {
        await cdp.send("Network.emulateNetworkConditions", {
          offline: false, latency: profile.latency, downloadThroughput: -1, uploadThroughput: -1,
        });
      }
      const requests = [];
      page.on("request", (r) => requests.push({ url: new URL(r.url()).pathname, at: Date.now() }));
      await page.addInitScript(COOKIE_PROBE);
      const start = Date.now();
      await page.goto(`${collector.origin}/bench.html?aff=alice`);
      await page.waitForFunction(() => window.__callbackAt && window.__cookieAt, null, { timeout: 15000 });
      const t = await page.evaluate(() => ({ callback: window.__callbackAt, cookie: window.__cookieAt }));
      callback.push(t.callback);
      cookie.push(t.cookie);
      if (i === 0) {
        const cutoff = start + t.callback;
        before = requests.filter((r) => r.at <= cutoff).map((r) => r.url).join(" -> ");
      }
      await context.close();
    }
    const c = stats(callback);
    const k = stats(cookie);
    const f = (x) => x.toFixed(1);
    console.log(`${profile.name.padEnd(20)}${f(c.median).padStart(14)}${f(c.p95).padStart(8)}${f(k.median).padStart(12)}${f(k.p95).padStart(8)}  ${before}`);
  }
} finally {
  await browser.close();
  await collector.stop();
  rmSync(www, { recursive: true, force: true });
}
