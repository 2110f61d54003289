// The affiliate portal as an affiliate opens it: a visitor comes through alice's
// link and buys, the operator makes alice's portal link with the admin key, and the page shows
// alice's own click, sale and commission — and nothing of bob, who also sold.
import assert from "node:assert/strict";
import { engines, cookieValue, eventually, API_KEY } from "./harness.mjs";

const ADMIN_KEY = "demo_admin_key";

async function api(origin, path, key, body) {
  const res = await fetch(`${origin}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

engines((env) => {
  env.test("an affiliate's portal link shows their own click, sale and commission only", async () => {
    const origin = env.site.origin;
    const collector = env.collector.origin;
    const page = await env.newPage();
    await page.goto(`${origin}/?aff=alice`);
    const { cid } = JSON.parse(await eventually(() => cookieValue(page, "trakdesk_cid"), 8000, "cookie"));
    await eventually(async () => (await env.collector.affiliate("alice")).clicks === 1, 8000, "click stored");
    await api(collector, "/api/v1/track/sale", API_KEY,
      { click_id: cid, transaction_id: `portal-${env.engine}-1`, amount_cents: 12345, currency: "USD" });
    // bob sells far more, from a click of his own
    const click = await (await fetch(`${collector}/tracking/click/v1`, {
      method: "POST",
      body: JSON.stringify({ tenantId: "demo", eventId: crypto.randomUUID(), aff: "bob" }),
    })).json();
    await api(collector, "/api/v1/track/sale", API_KEY,
      { click_id: click.cid, transaction_id: `portal-${env.engine}-bob`, amount_cents: 987654, currency: "USD" });
    assert.equal((await env.collector.affiliate("bob")).conversions, 1);

    const link = await api(collector, "/api/v1/affiliates/alice/portal-link", ADMIN_KEY);
    assert.match(link.token, /^[0-9a-f]{64}$/);
    await page.goto(`${collector}${link.url}`);
    await page.waitForSelector("#content:not([hidden])");
    assert.equal((await page.textContent("#affiliate")).trim(), "alice");
    assert.equal((await page.textContent("#clicks")).trim(), "1");
    assert.equal((await page.textContent("#conversions")).trim(), "1");
    // 30 % of 123.45 = 37.04 (half-up), approved at once in the demo (hold_days = 0)
    assert.match(await page.textContent("#approved"), /37\.04/);
    const rows = await page.textContent("#conversion-rows");
    assert.match(rows, /123\.45/);
    assert.doesNotMatch(rows, /9,?876\.54/);
    const text = await page.textContent("body");
    assert.doesNotMatch(text, /bob/);
    assert.doesNotMatch(text, new RegExp(`portal-${env.engine}`), "no transaction ids shown");

    // rotating the link kills the page the affiliate had open
    await api(collector, "/api/v1/affiliates/alice/portal-link", ADMIN_KEY);
    await page.goto(`${collector}${link.url}`);
    await page.waitForSelector("#error:not([hidden])");
    assert.match(await page.textContent("#error"), /does not exist or was replaced/);
  });
});
