// data-consent="required": nothing is written or sent before consent, everything after.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  collectorAndBrowser, newPage, servePage, trackdeskSnippet, cookieValue, eventually,
} from "./harness.mjs";

const env = collectorAndBrowser();

test("no cookie, storage or request before consent; the click lands after it", async () => {
  const page = await newPage(env.browser);
  const sent = [];
  page.on("request", (r) => r.url().includes("/tracking/") && sent.push(r.url()));
  await servePage(page, env.collector, "/consent", `<!doctype html>${trackdeskSnippet("/tracking.js", 'data-consent="required"')}`);
  await page.goto(`${env.collector.origin}/consent?aff=alice`);
  await page.waitForFunction(() => window.TrackdeskObject && window.TrackdeskObject.f);
  await page.waitForTimeout(500);

  assert.equal(await page.evaluate(() => document.cookie), "");
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), []);
  assert.deepEqual(sent, []);
  assert.equal((await env.collector.affiliate("alice")).clicks, 0);

  await page.evaluate(() => trackdesk("demo", "consent", { granted: true }));
  const raw = await eventually(() => cookieValue(page, "trakdesk_cid"), 8000, "cookie after consent");
  assert.equal(JSON.parse(raw).tenantId, "demo");
  await eventually(async () => (await env.collector.affiliate("alice")).clicks === 1, 8000, "click after consent");
  assert.deepEqual(page.pageErrors, []);
});

test("a loader failure before consent logs its error but sends no diagnostic", async () => {
  const page = await newPage(env.browser);
  const sent = [];
  page.on("request", (r) => r.url().includes("/tracking/") && sent.push(r.url()));
  await servePage(page, env.collector, "/consent-csp",
    `<!doctype html>${trackdeskSnippet("/tracking.js", 'data-consent="required"')}`,
    { "content-security-policy": "script-src 'self' 'unsafe-inline'" });
  await page.goto(`${env.collector.origin}/consent-csp?aff=alice&email=someone%40example.com`);
  await eventually(() => page.consoleErrors.some((m) => m.startsWith("clicktrail:")), 8000, "the loader's console error");
  await page.waitForTimeout(500);
  assert.deepEqual(sent, [], "send nothing until consent: not even the diagnostic (it carries the URL)");
  assert.deepEqual(env.collector.sql("select kind from diagnostics"), []);
  assert.deepEqual(page.pageErrors, []);
});
