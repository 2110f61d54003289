// data-consent="required": nothing is written or sent before consent, everything after.
import assert from "node:assert/strict";
import { engines, trackdeskSnippet, cookieValue, eventually } from "./harness.mjs";

const tracked = (site, mark) => site.requestsSince(mark).filter((r) => r.path.includes("/tracking/")).map((r) => r.url);

engines((env) => {
  env.test("no cookie, storage or request before consent; the click lands after it", async () => {
    const page = await env.newPage();
    const url = env.site.page("/consent", `<!doctype html>${trackdeskSnippet("/tracking.js", 'data-consent="required"')}`);
    const mark = env.site.mark();
    await page.goto(`${url}?aff=alice`);
    await page.waitForFunction(() => !!(window.TrackdeskObject && window.TrackdeskObject.f));
    await page.waitForTimeout(500);

    assert.equal(await page.evaluate(() => document.cookie), "");
    assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), []);
    assert.deepEqual(tracked(env.site, mark), []);
    assert.equal((await env.collector.affiliate("alice")).clicks, 0);

    await page.evaluate(() => trackdesk("demo", "consent", { granted: true }));
    const raw = await eventually(() => cookieValue(page, "trakdesk_cid"), 8000, "cookie after consent");
    assert.equal(JSON.parse(raw).tenantId, "demo");
    await eventually(async () => (await env.collector.affiliate("alice")).clicks === 1, 8000, "click after consent");
    assert.deepEqual(await page.pageErrors(), []);
  });

  env.test("a loader failure before consent logs its error but sends no diagnostic", async () => {
    const page = await env.newPage();
    const url = env.site.page("/consent-csp",
      `<!doctype html>${trackdeskSnippet("/tracking.js", 'data-consent="required"')}`,
      { "content-security-policy": "script-src 'self' 'unsafe-inline'" });
    const mark = env.site.mark();
    await page.goto(`${url}?aff=alice&email=someone%40example.com`);
    await eventually(async () => (await page.consoleErrors()).some((m) => m.startsWith("clicktrail:")), 8000,
      "the loader's console error");
    await page.waitForTimeout(500);
    assert.deepEqual(tracked(env.site, mark), [], "send nothing until consent: not even the diagnostic (it carries the URL)");
    assert.deepEqual(env.collector.sql("select kind from diagnostics"), []);
    assert.deepEqual(await page.pageErrors(), []);
  });
});
