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
