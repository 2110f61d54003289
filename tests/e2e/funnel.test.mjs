// The whole funnel through the demo shop in www/, exactly as a visitor walks it,
// asserted on what the collector stored.
import assert from "node:assert/strict";
import { engines, cookieValue, eventually, UUID_V4, REVENUE_ORIGIN } from "./harness.mjs";

const testid = (id) => `[data-testid="${id}"]`;

engines((env) => {

  env.test("affiliate link -> cookie -> signup -> Tito -> Stripe checkout -> commission on the dashboard", async () => {
    const page = await env.newPage();
    const origin = env.site.origin;

    // 1. The affiliate link: exact cookie JSON.
    await page.goto(`${origin}/?aff=alice`);
    const raw = await eventually(() => cookieValue(page, "trakdesk_cid"), 8000, "cookie");
    const { cid } = JSON.parse(raw);
    assert.match(cid, UUID_V4);
    assert.equal(raw, `{"tenantId":"demo","cid":"${cid}"}`);
    await eventually(async () => (await env.collector.affiliate("alice")).clicks === 1, 8000, "click stored");

    // 2. The checkout page learns the same CID through the click callback.
    await page.goto(`${origin}/checkout.html`);
    await page.waitForSelector(`${testid("cid")}[data-cid="${cid}"]`);
    assert.equal(await page.inputValue(testid("hidden-cid")), cid);

    // 3. Signup through trackdesk.signup(customerKey, email).
    await page.goto(`${origin}/signup.html`);
    await page.fill(testid("customer-key"), "cust-42");
    await page.fill(testid("email"), "buyer@example.com");
    await page.click(testid("signup-submit"));
    await page.waitForSelector(`${testid("signup-result")}[data-state="ok"]`);
    await eventually(async () => (await env.collector.affiliate("alice")).leads === 1, 8000, "lead stored");

    // 4. A Tito registration links the email as external CID (built-in `tito` command).
    await page.goto(`${origin}/tito.html`);
    // the visitor registers once the page has the whole tracker (its `tito` hook is the full
    // module's, which follows the click module)
    await page.waitForFunction(() => !!(window.TrackdeskObject && window.TrackdeskObject.f));
    await page.fill(testid("tito-name"), "Ada Buyer");
    await page.fill(testid("tito-email"), "ada@example.com");
    await page.click(testid("tito-submit"));
    // The external CID resolves to the visitor's CID: a server-side conversion by it is alice's.
    const viaExternal = await eventually(async () => {
      const res = await fetch(`${origin}/tracking/external-cid/v1`, {
        method: "POST",
        body: JSON.stringify({
          tenantId: "demo", eventId: crypto.randomUUID(), externalCid: "ada@example.com",
          revenueOriginId: REVENUE_ORIGIN, conversionTypeCode: "signup", externalId: "tito-ada",
        }),
      });
      return res.ok && res.json();
    }, 8000, "external CID linked");
    assert.equal(viaExternal.commission.value, "5.00");

    // 5. Checkout: the demo route posts a signed checkout.session.completed to the webhook.
    await page.goto(`${origin}/checkout.html`);
    await page.waitForSelector(`${testid("cid")}[data-cid="${cid}"]`);
    await page.fill(testid("email"), "buyer@example.com");
    await page.click(testid("pay"));
    await page.waitForSelector(`${testid("checkout-result")}[data-state="ok"]`);
    assert.equal((await page.textContent(testid("webhook-status"))).trim(), "200");

    // 6. The collector attributes the $49.00 sale to alice at 30 %: $14.70, plus the $5.00 signup.
    const alice = await eventually(async () => {
      const row = await env.collector.affiliate("alice");
      return row.conversions === 2 && row;
    }, 8000, "sale attributed");
    assert.equal(alice.revenueCents, 4900);
    assert.equal(alice.commissionCents, 1470 + 500);
    assert.equal((await env.collector.affiliate("bob")).conversions, 0);

    // 7. The dashboard shows it.
    await page.goto(`${origin}/dashboard`);
    await page.waitForSelector(`${testid("dashboard")}[data-state="ready"]`);
    assert.equal(await page.getAttribute(testid("total-clicks"), "data-value"), "1");
    assert.equal(await page.getAttribute(testid("total-revenue"), "data-value"), "4900");
    const commission = await page.getAttribute('tr[data-affiliate="alice"] td[data-col="commission"]', "data-cents");
    assert.equal(commission, String(1470 + 500));
    assert.deepEqual(await page.pageErrors(), []);
  });

  env.test("Stripe Payment Links and pricing tables carry the CID, also when added after load", async () => {
    const page = await env.newPage();
    await page.goto(`${env.site.origin}/pricing.html?aff=bob`);
    const { cid } = JSON.parse(await eventually(() => cookieValue(page, "trakdesk_cid"), 8000, "cookie"));
    const hrefHas = async (sel) => new URL(await page.getAttribute(sel, "href")).searchParams.get("client_reference_id");
    await eventually(async () => (await hrefHas(testid("stripe-link"))) === cid, 8000, "static link decorated");
    await eventually(async () => (await page.getAttribute(testid("pricing-table"), "client-reference-id")) === cid,
      8000, "pricing table decorated");

    await page.click(testid("add-link"));
    await eventually(async () => (await hrefHas(testid("late-link"))) === cid, 8000, "late link decorated");
    await eventually(async () => (await page.getAttribute(testid("late-buy-button"), "client-reference-id")) === cid,
      8000, "late buy button decorated");
    assert.deepEqual(await page.pageErrors(), []);
  });
});
