// data-consent="required": nothing is written or sent before consent, everything after.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Collector, launchBrowser, newPage, servePage, trackdeskSnippet, cookieValue, eventually } from "./harness.mjs";

let collector, browser;
before(async () => {
  collector = await new Collector().start();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await collector?.stop();
});

test("no cookie, storage or request before consent; the click lands after it", async () => {
  const page = await newPage(browser);
  const sent = [];
  page.on("request", (r) => r.url().includes("/tracking/") && sent.push(r.url()));
  await servePage(page, collector, "/consent", `<!doctype html>${trackdeskSnippet("/tracking.js", 'data-consent="required"')}`);
  await page.goto(`${collector.origin}/consent?aff=alice`);
  await page.waitForFunction(() => window.TrackdeskObject && window.TrackdeskObject.f);
  await page.waitForTimeout(500);

  assert.equal(await page.evaluate(() => document.cookie), "");
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), []);
  assert.deepEqual(sent, []);
  assert.equal((await collector.affiliate("alice")).clicks, 0);

  await page.evaluate(() => trackdesk("demo", "consent", { granted: true }));
  const raw = await eventually(() => cookieValue(page, "trakdesk_cid"), 8000, "cookie after consent");
  assert.equal(JSON.parse(raw).tenantId, "demo");
  await eventually(async () => (await collector.affiliate("alice")).clicks === 1, 8000, "click after consent");
  assert.deepEqual(page.pageErrors, []);
});
