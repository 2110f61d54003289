// A merchant CSP without 'wasm-unsafe-eval': one clear console error, a diagnostic
// stored by the collector, no exception on the page and the queue left intact.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Collector, launchBrowser, newPage, servePage, trackdeskSnippet, eventually } from "./harness.mjs";

let collector, browser;
before(async () => {
  collector = await new Collector().start();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await collector?.stop();
});

const page_ = `<!doctype html><title>csp</title>${trackdeskSnippet()}`;

test("without 'wasm-unsafe-eval' the loader explains itself once and reports a diagnostic", async () => {
  const page = await newPage(browser);
  await servePage(page, collector, "/strict", page_, {
    "content-security-policy": "script-src 'self' 'unsafe-inline'",
  });
  await page.goto(`${collector.origin}/strict?aff=alice`);
  const ours = await eventually(() => {
    const hits = page.consoleErrors.filter((m) => m.startsWith("clicktrail:"));
    return hits.length && hits;
  }, 8000, "the loader's console error");
  await page.waitForTimeout(500);
  assert.equal(page.consoleErrors.filter((m) => m.startsWith("clicktrail:")).length, 1);
  assert.match(ours[0], /wasm-unsafe-eval/);
  assert.deepEqual(page.pageErrors, []);
  // The merchant's queued call is still there for a later, working load.
  assert.equal(await page.evaluate(() => window.trackdesk.q.length), 1);
  const rows = await eventually(() => {
    const r = collector.sql("select kind from diagnostics");
    return r.length && r;
  }, 8000, "diagnostic stored");
  assert.equal(rows[0].kind, "csp");
  assert.equal((await collector.affiliate("alice")).clicks, 0);
});

test("with 'wasm-unsafe-eval' in the same policy everything works", async () => {
  const page = await newPage(browser);
  await servePage(page, collector, "/allowed", page_, {
    "content-security-policy": "script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'",
  });
  await page.goto(`${collector.origin}/allowed?aff=alice`);
  await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
  await eventually(async () => (await collector.affiliate("alice")).clicks === 1, 8000, "click stored");
  assert.deepEqual(page.consoleErrors, []);
  assert.deepEqual(page.pageErrors, []);
});

test("a CDN that serves the wasm with the wrong Content-Type still starts the tracker", async () => {
  const page = await newPage(browser);
  await servePage(page, collector, "/octet", page_);
  // the loader's streaming compile rejects application/octet-stream; the buffered path runs
  await page.route(
    (url) => url.origin === collector.origin && url.pathname === "/clicktrail_bg.wasm",
    async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), "content-type": "application/octet-stream" } });
    },
  );
  await page.goto(`${collector.origin}/octet?aff=alice`);
  await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
  await eventually(async () => (await collector.affiliate("alice")).clicks === 2, 8000, "click stored");
  assert.deepEqual(page.consoleErrors, []);
  assert.deepEqual(page.pageErrors, []);
});
