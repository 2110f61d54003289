// A merchant CSP without 'wasm-unsafe-eval': one clear console error, a diagnostic
// stored by the env.collector, no exception on the page and the queue left intact.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  collectorAndBrowser, newPage, servePage, trackdeskSnippet, eventually,
} from "./harness.mjs";

const env = collectorAndBrowser();

const page_ = `<!doctype html><title>csp</title>${trackdeskSnippet()}`;

test("without 'wasm-unsafe-eval' the loader explains itself once and reports a diagnostic", async () => {
  const page = await newPage(env.browser);
  await servePage(page, env.collector, "/strict", page_, {
    "content-security-policy": "script-src 'self' 'unsafe-inline'",
  });
  await page.goto(`${env.collector.origin}/strict?aff=alice`);
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
    const r = env.collector.sql("select kind from diagnostics");
    return r.length && r;
  }, 8000, "diagnostic stored");
  assert.equal(rows[0].kind, "csp");
  assert.equal((await env.collector.affiliate("alice")).clicks, 0);
});

test("with 'wasm-unsafe-eval' in the same policy everything works", async () => {
  const page = await newPage(env.browser);
  await servePage(page, env.collector, "/allowed", page_, {
    "content-security-policy": "script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'",
  });
  await page.goto(`${env.collector.origin}/allowed?aff=alice`);
  await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
  await eventually(async () => (await env.collector.affiliate("alice")).clicks === 1, 8000, "click stored");
  assert.deepEqual(page.consoleErrors, []);
  assert.deepEqual(page.pageErrors, []);
});

test("a CDN that serves the wasm with the wrong Content-Type still starts the tracker", async () => {
  const page = await newPage(env.browser);
  await servePage(page, env.collector, "/octet", page_);
  // the loader's streaming compile rejects application/octet-stream; the buffered path runs
  await page.route(
    (url) => url.origin === env.collector.origin && url.pathname === "/clicktrail_bg.wasm",
    async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), "content-type": "application/octet-stream" } });
    },
  );
  await page.goto(`${env.collector.origin}/octet?aff=alice`);
  await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
  await eventually(async () => (await env.collector.affiliate("alice")).clicks === 2, 8000, "click stored");
  assert.deepEqual(page.consoleErrors, []);
  assert.deepEqual(page.pageErrors, []);
});
