// A real blocker in a real browser: Firefox ESR with Debian's uBlock Origin
// (webext-ublock-origin-firefox, its default lists as packaged), installed over WebDriver
// BiDi. The shop is on 127.0.0.2, the collector on 127.0.0.1: two IP hosts, two sites, so
// the collector is third-party for uBO and EasyPrivacy's `$ping,third-party` applies.
// What the visitor's last actions send before leaving the page must still arrive.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import {
  Collector, Site, ENGINES, UBLOCK_ORIGIN, trackdeskSnippet, eventually, sleep,
} from "./harness.mjs";

const UBO = UBLOCK_ORIGIN;
const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";
const SKIP = !ENGINES.includes("firefox") ? "Firefox not selected (E2E_ENGINES)" : false;
// scripts/setup.sh installs both: their absence is a failure, not a skip.
const MISSING = [FIREFOX, UBO].filter((path) => !existsSync(path));

describe("firefox + uBlock Origin, collector on another site", { skip: SKIP }, () => {
  let browser, collector, collectorSite, shop;
  before(async () => {
    assert.deepEqual(MISSING, [],
      "missing: run bash scripts/setup.sh (Debian firefox-esr, webext-ublock-origin-firefox)");
    const { default: puppeteer } = await import("puppeteer-core");
    collector = await new Collector().start();
    collectorSite = await new Site({ upstream: collector }).start(); // 127.0.0.1: the collector, logged
    shop = await new Site({ host: "127.0.0.2", proxy: false }).start(); // the merchant's site
    browser = await puppeteer.launch({ browser: "firefox", executablePath: FIREFOX, headless: true });
    await browser.installExtension(UBO);
    // uBO is ready once it blocks a generic path filter (EasyPrivacy's `/_tracking/*`).
    const probe = shop.page("/probe", `<!doctype html><title>probe</title><script>
window.probe = () => fetch("/_tracking/probe").then(() => "passed", () => "blocked");</script>`);
    const page = await browser.newPage();
    await eventually(async () => {
      await page.goto(probe);
      return (await page.evaluate("window.probe()")) === "blocked";
    }, 60000, "uBlock Origin filtering");
    await page.close();
  });
  after(async () => {
    await browser?.close();
    await shop?.stop();
    await collectorSite?.stop();
    await collector?.stop();
  });

  const seen = (mark, path) => collectorSite.requestsSince(mark).filter((r) => r.path === path);

  async function shopPage(path, html) {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    page.errors = [];
    page.on("pageerror", (e) => page.errors.push(String(e)));
    return { page, context, url: shop.page(path, html) };
  }

  test("control: uBO drops a third-party sendBeacon while sendBeacon returns true", async () => {
    const { page, context, url } = await shopPage("/beacon", "<!doctype html><title>beacon</title>");
    await page.goto(url);
    const mark = collectorSite.mark();
    const returned = await page.evaluate(`navigator.sendBeacon("${collectorSite.origin}/tracking/diagnostic/v1", "{}")`);
    const viaFetch = await page.evaluate(`fetch("${collectorSite.origin}/tracking/diagnostic/v1",
      { method: "POST", body: "{}", keepalive: true }).then((r) => r.status, (e) => String(e))`);
    await sleep(1000);
    assert.equal(returned, true, "sendBeacon claims success");
    assert.equal(typeof viaFetch, "number", `fetch keepalive reaches the collector: ${viaFetch}`);
    assert.equal(seen(mark, "/tracking/diagnostic/v1").length, 1, "only the fetch arrived, the beacon was dropped");
    await context.close();
  });

  const thanks = () => shop.page("/thanks", "<!doctype html><title>thanks</title><p>no tracker on this page</p>");
  const SHOP = (collectorOrigin) => `<!doctype html><title>shop</title>${trackdeskSnippet(`${collectorOrigin}/tracking.js`)}`;

  test("a conversion queued right before leaving the page arrives", async () => {
    const { page, context, url } = await shopPage("/shop", SHOP(collectorSite.origin));
    await page.goto(`${url}?aff=alice`);
    await eventually(() => page.evaluate("window.__clickResult"), 8000, "click callback");
    await eventually(async () => (await collector.affiliate("alice")).clicks === 1, 8000, "click stored");
    // the conversion is handed to the whole tracker (a landing starts the full module at the
    // page's next call; a command given before it arrives waits in the page's queue:
    // docs/tracker.md)
    await page.evaluate(`trackdesk("demo", "ready", function () {})`);
    await page.waitForFunction("!!(window.TrackdeskObject && window.TrackdeskObject.f)");
    const mark = collectorSite.mark();
    await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      page.evaluate(`trackdesk("demo", "conversion", { conversionTypeCode: "sale", amount: { value: "42.00" },
        externalId: "ubo-order-1" }); location.href = ${JSON.stringify(thanks())};`),
    ]);
    const alice = await eventually(async () => {
      const row = await collector.affiliate("alice");
      return row.conversions === 1 && row;
    }, 10000, `conversion stored (the collector saw: ${JSON.stringify(seen(mark, "/tracking/conversion/v1").length)} conversion requests)`);
    assert.equal(alice.revenueCents, 4200);
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  test("a conversion left for pagehide (its first send failed) arrives when the visitor leaves", async () => {
    const { page, context, url } = await shopPage("/shop2", SHOP(collectorSite.origin));
    await page.goto(`${url}?aff=bob`);
    await eventually(() => page.evaluate("window.__clickResult"), 8000, "click callback");
    await eventually(async () => (await collector.affiliate("bob")).clicks === 1, 8000, "click stored");
    // The collector answers the first conversion 503: the event waits in the outbox for a
    // retry; the visitor leaves before it, so only the pagehide flush can deliver it.
    collectorSite.failNext("/tracking/conversion/v1", 1, 503);
    const mark = collectorSite.mark();
    await page.evaluate(`trackdesk("demo", "conversion", { conversionTypeCode: "sale", amount: { value: "10.00" },
      externalId: "ubo-order-2" })`);
    await eventually(() => seen(mark, "/tracking/conversion/v1").some((r) => r.status === 503), 8000, "first send failed");
    await eventually(() => page.evaluate(`JSON.parse(localStorage.getItem("clicktrail_outbox") || "[]").length > 0`),
      8000, "event waiting in the outbox");
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.evaluate(`location.href = ${JSON.stringify(thanks())}`)]);
    const bob = await eventually(async () => {
      const row = await collector.affiliate("bob");
      return row.conversions === 1 && row;
    }, 10000, "conversion delivered by the pagehide flush (a sendBeacon to another site is dropped by uBO)");
    assert.equal(bob.revenueCents, 1000);
    await context.close();
  });

  test("the loader's diagnostic (CSP without 'wasm-unsafe-eval') reaches the collector", async () => {
    const { page, context, url } = await shopPage("/strict", SHOP(collectorSite.origin));
    shop.pages.get("/strict").headers = { "content-security-policy": `script-src 'self' 'unsafe-inline' ${collectorSite.origin}` };
    const before = collector.sql("select count(*) as n from diagnostics")[0].n;
    const mark = collectorSite.mark();
    await page.goto(`${url}?aff=alice`);
    await eventually(() => collector.sql("select count(*) as n from diagnostics")[0].n === before + 1, 8000,
      `diagnostic stored (the collector saw ${seen(mark, "/tracking/diagnostic/v1").length} diagnostic requests)`);
    await context.close();
  });
});
