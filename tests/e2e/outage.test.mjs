// The collector goes down while the visitor acts and comes back later: every event
// the page handed the tracker arrives, exactly once.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Collector, launchBrowser, newPage, servePage, trackdeskSnippet, eventually } from "./harness.mjs";

let collector, browser;
after(async () => {
  await browser?.close();
  await collector?.stop();
});

test("events made while the collector is down are delivered once it is back", async () => {
  collector = await new Collector().start();
  browser = await launchBrowser();
  const page = await newPage(browser);
  const html = `<!doctype html><title>shop</title>${trackdeskSnippet()}`;
  await servePage(page, collector, "/shop", html);
  await servePage(page, collector, "/next", html);

  await page.goto(`${collector.origin}/shop?aff=alice`);
  const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
  await eventually(async () => (await collector.affiliate("alice")).clicks === 1, 8000, "click stored");

  await collector.kill(); // SIGKILL: the collector is simply gone.
  const outcome = await page.evaluate(async () => {
    trackdesk("demo", "conversion", { conversionTypeCode: "sale", amount: { value: "20.00" }, externalId: "outage-order" });
    return trackdesk.signup("outage-user", "outage@example.com").then(() => "resolved", (e) => `rejected: ${e.message}`);
  });
  assert.match(outcome, /^rejected: .+/, "signup must reject readably while the collector is down");
  const outbox = await page.evaluate(() => JSON.parse(localStorage.getItem("clicktrail_outbox") || "[]"));
  assert.ok(outbox.length >= 1, `outbox holds the failed events: ${JSON.stringify(outbox)}`);

  await collector.start(); // same port, same SQLite file
  // The next page load retries the outbox (the page's own backoff may beat it: both are fine).
  await page.goto(`${collector.origin}/next`);
  const alice = await eventually(async () => {
    const row = await collector.affiliate("alice");
    return row.conversions === 1 && row;
  }, 20000, "conversion delivered after the outage");
  assert.equal(alice.revenueCents, 2000);
  assert.equal(alice.commissionCents, 600);
  await eventually(() => page.evaluate(() => (JSON.parse(localStorage.getItem("clicktrail_outbox") || "[]")).length === 0),
    20000, "outbox drained");

  // Let any duplicate retry or beacon arrive, then check nothing was counted twice.
  await page.close({ runBeforeUnload: true });
  await new Promise((ok) => setTimeout(ok, 1500));
  const final = await collector.affiliate("alice");
  assert.equal(final.conversions, 1);
  assert.equal(final.clicks, 1);
  assert.equal(collector.sql("select count(*) as n from conversions")[0].n, 1);
  assert.ok(cid);
});
