// The collector goes down while the visitor acts and comes back later: every event
// the page handed the tracker arrives, exactly once.
import assert from "node:assert/strict";
import { engines, trackdeskSnippet, eventually, sleep } from "./harness.mjs";

engines((env) => {
  env.test("events made while the collector is down are delivered once it is back", async () => {
    const { collector, site } = env;
    const page = await env.newPage();
    const html = `<!doctype html><title>shop</title>${trackdeskSnippet()}`;
    const shop = site.page("/shop", html);
    const next = site.page("/next", html);

    await page.goto(`${shop}?aff=alice`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await eventually(async () => (await collector.affiliate("alice")).clicks === 1, 8000, "click stored");
    // the visitor acts once the page has the whole tracker (a landing starts the full module at
    // the page's next call; a command given before it arrives waits in the page's queue and is
    // lost if the page is left while its script cannot be downloaded: docs/tracker.md)
    await page.evaluate(() => trackdesk("demo", "ready", () => {}));
    await page.waitForFunction(() => !!(window.TrackdeskObject && window.TrackdeskObject.f));

    await collector.kill(); // SIGKILL: the collector is simply gone (the site answers 502).
    const outcome = await page.evaluate(async () => {
      trackdesk("demo", "conversion", { conversionTypeCode: "sale", amount: { value: "20.00" }, externalId: "outage-order" });
      return trackdesk.signup("outage-user", "outage@example.com").then(() => "resolved", (e) => `rejected: ${e.message}`);
    });
    assert.match(outcome, /^rejected: .+/, "signup must reject readably while the collector is down");
    const outbox = await page.evaluate(() => JSON.parse(localStorage.getItem("clicktrail_outbox") || "[]"));
    assert.ok(outbox.length >= 1, `outbox holds the failed events: ${JSON.stringify(outbox)}`);

    await collector.start(); // same port, same SQLite file
    // The next page load retries the outbox (the page's own backoff may beat it: both are fine).
    await page.goto(next);
    const alice = await eventually(async () => {
      const row = await collector.affiliate("alice");
      return row.conversions === 1 && row;
    }, 20000, "conversion delivered after the outage");
    assert.equal(alice.revenueCents, 2000);
    assert.equal(alice.commissionCents, 600);
    await eventually(() => page.evaluate(() => (JSON.parse(localStorage.getItem("clicktrail_outbox") || "[]")).length === 0),
      20000, "outbox drained");

    // Let any duplicate retry or pagehide send arrive, then check nothing was counted twice.
    await page.leave();
    await sleep(1500);
    const final = await collector.affiliate("alice");
    assert.equal(final.conversions, 1);
    assert.equal(final.clicks, 1);
    assert.equal(collector.sql("select count(*) as n from conversions")[0].n, 1);
    assert.ok(cid);
  });
});
