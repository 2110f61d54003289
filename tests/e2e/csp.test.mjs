// A merchant CSP without 'wasm-unsafe-eval': one clear console error, a diagnostic
// stored by the collector, no exception on the page and the queue left intact.
import assert from "node:assert/strict";
import { engines, trackdeskSnippet, eventually, wasmFile } from "./harness.mjs";

const page_ = `<!doctype html><title>csp</title>${trackdeskSnippet()}`;
const ours = async (page) => (await page.consoleErrors()).filter((m) => m.startsWith("clicktrail:"));

engines((env) => {
  env.test("without 'wasm-unsafe-eval' the loader explains itself once and reports a diagnostic", async () => {
    const page = await env.newPage();
    const url = env.site.page("/strict", page_, { "content-security-policy": "script-src 'self' 'unsafe-inline'" });
    await page.goto(`${url}?aff=alice`);
    const hits = await eventually(async () => {
      const h = await ours(page);
      return h.length && h;
    }, 8000, "the loader's console error");
    await page.waitForTimeout(500);
    assert.equal((await ours(page)).length, 1);
    assert.match(hits[0], /wasm-unsafe-eval/);
    assert.deepEqual(await page.pageErrors(), []);
    // The merchant's queued call is still there for a later, working load.
    assert.equal(await page.evaluate(() => window.trackdesk.q.length), 1);
    const rows = await eventually(() => {
      const r = env.collector.sql("select kind from diagnostics");
      return r.length && r;
    }, 8000, "diagnostic stored");
    assert.equal(rows[0].kind, "csp");
    assert.equal((await env.collector.affiliate("alice")).clicks, 0);
  });

  env.test("with 'wasm-unsafe-eval' in the same policy everything works", async () => {
    const page = await env.newPage();
    const url = env.site.page("/allowed", page_, {
      "content-security-policy": "script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'",
    });
    await page.goto(`${url}?aff=alice`);
    await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await eventually(async () => (await env.collector.affiliate("alice")).clicks === 1, 8000, "click stored");
    assert.deepEqual(await page.consoleErrors(), []);
    assert.deepEqual(await page.pageErrors(), []);
  });

  env.test("a CDN that serves the wasm with the wrong Content-Type still starts the tracker", async () => {
    const page = await env.newPage();
    const url = env.site.page("/octet", page_);
    // the loader's streaming compile rejects application/octet-stream; the buffered path runs
    const wasm = `/${wasmFile()}`;
    const restore = env.site.override(wasm, { "content-type": "application/octet-stream" });
    try {
      const mark = env.site.mark();
      await page.goto(`${url}?aff=alice`);
      await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
      await eventually(async () => (await env.collector.affiliate("alice")).clicks === 2, 8000, "click stored");
      // the full module comes at the page's next call
      await page.evaluate(() => trackdesk("demo", "ready", () => {}));
      await eventually(() => env.site.requestsSince(mark).some((r) => r.path === wasm), 8000,
        "the wasm came through the overriding site (not from a cache)");
      await eventually(() => page.evaluate(() => typeof (window.TrackdeskObject || {}).f == "function"), 8000,
        "the full module started from the buffered compile");
      assert.deepEqual(await page.consoleErrors(), []);
      assert.deepEqual(await page.pageErrors(), []);
    } finally {
      restore();
    }
  });
});
