// Hostile URLs and cookies: nothing breaks the page and nothing bogus is stored.
import assert from "node:assert/strict";
import { engines, trackdeskSnippet, cookieValue, eventually, UUID_V4 } from "./harness.mjs";

const html = `<!doctype html><title>hostile</title>${trackdeskSnippet()}`;
const HOSTILE_QUERIES = [
  "aff=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
  "aff=%E0%A4%A",
  "aff=%ZZ%",
  `aff=${"x".repeat(10_000)}`,
  "aff=%00alice",
  "aff=alice%0Abob",
  "aff=&aff=",
  "aff[]=alice",
];

engines((env) => {
  env.test("hostile ?aff= values never throw into the page and store nothing", async () => {
    const url = env.site.page("/h", html);
    for (const query of HOSTILE_QUERIES) {
      const page = await env.newPage();
      await page.goto(`${url}?${query}`);
      // a call brings the full module wherever the loader waits for a need
      await page.evaluate(() => trackdesk("demo", "ready", () => {}));
      await page.waitForFunction(() => !!(window.TrackdeskObject && window.TrackdeskObject.f));
      // A value the tracker cannot reject itself is rejected by the collector (404), and
      // the optimistic cookie is then removed: either way the visitor ends unattributed.
      await eventually(async () => (await cookieValue(page, "trakdesk_cid")) === null, 8000, query.slice(0, 40));
      const ready = await page.evaluate(() => new Promise((ok) => trackdesk("demo", "ready", (r) => ok(r))));
      assert.deepEqual(ready, { cid: null }, query.slice(0, 40));
      assert.deepEqual(await page.pageErrors(), [], query.slice(0, 40));
      await page.close();
    }
    const clicks = env.collector.sql("select count(*) as n from clicks")[0].n;
    assert.equal(clicks, 0);
  });

  env.test("a malformed or foreign trakdesk_cid cookie is replaced by a valid one, never sent", async () => {
    const bad = [
      "garbage",
      '{"tenantId":"demo","cid":"<img src=x onerror=alert(1)>"}',
      '{"tenantId":"other-tenant","cid":"0f8fad5b-d9cb-469f-a165-70867728950e"}',
      '{"tenantId":"demo","cid":"0f8fad5b-d9cb-469f-a165-70867728950e"', // truncated JSON
      "%7B%22tenantId%22%3A%22demo%22%7D",
    ];
    const url = env.site.page("/c", html);
    for (const value of bad) {
      const page = await env.newPage();
      await page.setCookie(env.site.origin, "trakdesk_cid", value);
      await page.goto(`${url}?aff=alice`);
      const result = await eventually(() => page.evaluate(() => window.__clickResult), 8000, `callback (${value})`);
      assert.match(result.cid, UUID_V4, value);
      assert.notEqual(result.cid, "0f8fad5b-d9cb-469f-a165-70867728950e", value);
      const raw = await cookieValue(page, "trakdesk_cid");
      assert.equal(raw, `{"tenantId":"demo","cid":"${result.cid}"}`, value);
      assert.deepEqual(await page.pageErrors(), [], value);
      await page.close();
    }
    const cids = env.collector.sql("select cid from clicks").map((r) => r.cid);
    assert.equal(cids.length, bad.length);
    for (const cid of cids) assert.match(cid, UUID_V4);
  });

  env.test("wrong argument types and throwing callbacks never reach the page", async () => {
    const page = await env.newPage();
    await page.goto(`${env.site.page("/args", html)}?aff=bob`);
    await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    const survived = await page.evaluate(() => {
      const calls = [
        [], [null], [42, "click"], ["demo", 7], ["demo", "conversion", "not-an-object"],
        ["demo", "conversion", { amount: { value: 12.5 } }], ["demo", "nope"], [{}, [], () => {}],
        ["demo", "click", {}, () => { throw new Error("merchant bug"); }],
        ["demo", "ready", () => { throw new Error("merchant bug"); }],
        ["demo", "signup", { customerKey: { toString() { throw new Error("evil"); } } }],
      ];
      for (const args of calls) trackdesk(...args);
      trackdesk.getCid();
      return true;
    });
    assert.equal(survived, true);
    await page.waitForTimeout(500);
    assert.deepEqual(await page.pageErrors(), []);
    assert.equal(env.collector.sql("select count(*) as n from conversions")[0].n, 0);
  });
});
