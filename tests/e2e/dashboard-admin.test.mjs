// The dashboard with an admin key against a production collector (`serve --config`, no
// --demo, no --www): sign in (nothing pre-filled, the key in sessionStorage only), add an
// affiliate through the UI, its link gets a click on the merchant's page, the click shows in
// the recent events and the funnel, a sale's commission shows in the ledger, and the payout is
// paid from the UI (with its CSV); an outgoing webhook endpoint added in the UI gets a signed
// lead event at a real receiver, its delivery log shows it, and it is disabled. Chromium only (the dashboard is plain DOM code; the other
// engines' runs cost minutes and test the tracker, which funnel.test.mjs already does).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, test, before, after } from "node:test";
import {
  ROOT, ENGINES, Collector, Site, startEngine, eventually, cookieValue, trackdeskSnippet, freePort, sleep,
} from "./harness.mjs";

const ADMIN_KEY = "shop_admin_key_0123456789";
const INGEST_KEY = "shop_ingest_key_0123456789";
const BINARY = resolve(ROOT, process.env.CARGO_TARGET_DIR || "target", process.env.COLLECTOR_PROFILE || "debug",
  "clicktrail-collector");
const DIST = process.env.CLICKTRAIL_DIST || join(ROOT, "dist");
const testid = (id) => `[data-testid="${id}"]`;

/** The real binary as an operator runs it: `serve --config FILE` (www/ is not served). */
class ProductionCollector extends Collector {
  async start() {
    this.port ??= await freePort(this.host);
    const config = join(this.dir, "clicktrail.toml");
    writeFileSync(config, `
[[tenants]]
id = "shop"
api_key = "${INGEST_KEY}"
admin_key = "${ADMIN_KEY}"
allowed_origins = ["*"]
hold_days = 0
affiliates = ["alice"]
[tenants.conversion_types.sale]
revenue_share_percent = "30"
`);
    this.child = spawn(BINARY, ["serve", "--config", config, "--db", this.db,
      "--listen", `${this.host}:${this.port}`, "--dist", DIST],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
    this.child.stdout.on("data", (d) => (this.log += d));
    this.child.stderr.on("data", (d) => (this.log += d));
    await eventually(async () => {
      if (this.child.exitCode !== null) throw new Error(`collector exited: ${this.log}`);
      return (await fetch(`${this.origin}/healthz`).catch(() => null))?.ok;
    }, 15000, "collector up");
    return this;
  }

  api(method, path, key, body) {
    return fetch(`${this.origin}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) }));
  }
}

// E2E_ENGINES without chromium skips this file
describe("chromium", { skip: !ENGINES.includes("chromium") && "E2E_ENGINES has no chromium" }, () => {
  let collector, site, engine;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "clicktrail-e2e-admin-"));
    collector = await new ProductionCollector({ db: join(dir, "clicktrail.db") });
    collector.dir = dir;
    await collector.start();
    site = await new Site({ upstream: collector }).start();
    engine = await startEngine("chromium");
  });
  after(async () => {
    await engine?.stop();
    await site?.stop();
    await collector?.kill();
    if (collector?.dir) rmSync(collector.dir, { recursive: true, force: true });
  });

  test("sign in, add an affiliate, its click shows, pay its payout", async () => {
    // production: no demo key and no demo pages
    assert.equal((await collector.api("GET", "/api/v1/whoami", "demo_secret_key")).status, 401);
    assert.equal((await fetch(`${collector.origin}/index.html`)).status, 404);

    const page = await engine.newPage(site);
    await page.goto(`${collector.origin}/dashboard`);
    await page.waitForSelector(`${testid("dashboard")}[data-signed-in="no"]`);
    assert.equal(await page.inputValue(testid("api-key")), "", "the key is never pre-filled outside --demo");
    // the page runs under its Content-Security-Policy (script-src 'self', no framing): anything
    // the signed-in dashboard does that the policy refuses is recorded here
    await page.evaluate(() => {
      window.__cspViolations = [];
      document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });

    // a wrong key is refused
    await page.fill(testid("api-key"), "not-a-key-123");
    await page.click(testid("signin-submit"));
    await page.waitForSelector(`${testid("dashboard")}[data-error="unauthorized"]`);

    await page.fill(testid("api-key"), ADMIN_KEY);
    await page.click(testid("signin-submit"));
    await page.waitForSelector(`${testid("dashboard")}[data-signed-in="admin"]`);
    await page.waitForSelector(`${testid("dashboard")}[data-state="empty"]`);
    assert.equal(await page.textContent(testid("session-tenant")), "shop");
    assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('[data-testid="signin-form"]')).display),
      "none", "the sign-in card is gone once signed in");
    const stored = await page.evaluate(() => [sessionStorage.getItem("clicktrail_dashboard_key"),
      localStorage.getItem("clicktrail_dashboard_key")]);
    assert.deepEqual(stored, [ADMIN_KEY, null], "kept in sessionStorage only");

    // add an affiliate through the UI (its name is shown as text, never as HTML)
    await page.fill(testid("affiliate-code"), "newaff");
    await page.fill(testid("affiliate-name"), '<img src=x onerror="window.__xss=1">');
    await page.click(testid("affiliate-add"));
    await page.waitForSelector('tr[data-code="newaff"][data-disabled="false"]');
    assert.equal(await page.inputValue('tr[data-code="newaff"] [data-testid="affiliate-name-edit"]'),
      '<img src=x onerror="window.__xss=1">');
    const listed = await collector.api("GET", "/api/v1/affiliates", ADMIN_KEY);
    assert.deepEqual(listed.body.affiliates.map((a) => a.code), ["alice", "newaff"]);

    // the new affiliate's link on the merchant's page: a click (the catalog reached the tracker route)
    site.page("/landing.html", `<!doctype html><title>shop</title>${trackdeskSnippet("/tracking.js", "", "shop")}`);
    const visitor = await engine.newPage(site);
    await visitor.goto(`${site.origin}/landing.html?aff=newaff`);
    const { cid } = JSON.parse(await eventually(() => cookieValue(visitor, "trakdesk_cid"), 8000, "cookie"));
    // the tracker writes the cookie before its click is acknowledged: wait for the stored click
    await eventually(async () => {
      const clicks = await collector.api("GET", "/api/v1/events?kind=click&affiliate=newaff", ADMIN_KEY);
      return clicks.body.events?.some((e) => e.reference === cid);
    }, 8000, "the click stored");
    // a sale by that visitor (server to server), paid at 30 %, no hold
    const sale = await collector.api("POST", "/api/v1/track/sale", INGEST_KEY,
      { transaction_id: "tx-1", amount_cents: 10000, click_id: cid });
    assert.equal(sale.status, 200, JSON.stringify(sale.body));

    // the dashboard: funnel, ledger, recent events
    await page.click(testid("refresh"));
    await eventually(async () => (await page.getAttribute(testid("total-clicks"), "data-value")) === "1", 8000, "funnel");
    assert.equal(await page.getAttribute(testid("total-revenue"), "data-value"), "10000");
    await page.waitForSelector('tr[data-testid="event-row"][data-kind="click"][data-affiliate="newaff"]');
    await page.waitForSelector('tr[data-testid="event-row"][data-kind="sale"][data-affiliate="newaff"]');
    assert.equal(await page.getAttribute('tr[data-testid="ledger-row"][data-affiliate="newaff"] td[data-col="approvedCents"]',
      "data-cents"), "3000");
    // filter the event log by affiliate
    await page.fill(testid("events-affiliate"), "alice");
    await page.click(testid("events-refresh"));
    await page.waitForSelector(`${testid("events-table")} td.empty`);
    await page.fill(testid("events-affiliate"), "");

    // pay: the due list, the payout, its CSV
    await page.click(testid("due-refresh"));
    await page.waitForSelector('tr[data-testid="due-row"][data-affiliate="newaff"]');
    assert.equal(await page.getAttribute('tr[data-testid="due-row"][data-affiliate="newaff"] td[data-col="amount"]',
      "data-cents"), "3000");
    await page.click('tr[data-testid="due-row"][data-affiliate="newaff"] [data-testid="pay"]');
    await page.waitForSelector(`${testid("payout-done")}[data-cents="3000"]`);
    await eventually(async () => (await page.getAttribute(
      'tr[data-testid="ledger-row"][data-affiliate="newaff"] td[data-col="paidCents"]', "data-cents")) === "3000",
    8000, "paid in the ledger");
    const due = await collector.api("GET", "/api/v1/payouts/due", ADMIN_KEY);
    assert.deepEqual(due.body.affiliates, [], "nothing left to pay");
    await page.click(testid("payout-csv"));
    await page.waitForSelector(testid("payout-csv-link"));
    const csv = await page.evaluate(async () => {
      const a = document.querySelector('[data-testid="payout-csv-link"]');
      return (await fetch(a.href)).text();
    });
    assert.match(csv, /newaff/);
    assert.match(csv, /tx-1/);

    // disable from the UI: the row says so, and the link stops counting clicks
    await page.click('tr[data-code="newaff"] [data-testid="affiliate-disable"]');
    await page.waitForSelector('tr[data-code="newaff"][data-disabled="true"]');
    const refused = await fetch(`${collector.origin}/tracking/click/v1`, {
      method: "POST", body: JSON.stringify({ tenantId: "shop", aff: "newaff" }),
    });
    assert.equal(refused.status, 404);

    // the portal link: the url, or the collector's error when the route is not there
    await page.click('tr[data-code="alice"] [data-testid="affiliate-portal"]');
    await eventually(async () => (await page.getAttribute(
      'tr[data-code="alice"] [data-testid="affiliate-action-result"]', "data-state")) !== null, 8000, "portal link");
    const portal = await page.textContent('tr[data-code="alice"] [data-testid="affiliate-action-result"]');
    assert.match(portal, /\/portal\/[A-Za-z0-9_-]+/, portal);

    // an alias (a PartnerStack partner key): added from the UI, a click through it is alice's,
    // removed from the UI, its links stop
    const aliasClick = () => fetch(`${collector.origin}/tracking/click/v1`, {
      method: "POST", body: JSON.stringify({ tenantId: "shop", aff: "alice-ps-key" }),
    });
    assert.equal((await aliasClick()).status, 404);
    await page.fill('tr[data-code="alice"] [data-testid="affiliate-alias-input"]', "alice-ps-key");
    await page.click('tr[data-code="alice"] [data-testid="affiliate-alias-add"]');
    await page.waitForSelector('tr[data-code="alice"] [data-testid="affiliate-alias"][data-alias="alice-ps-key"]');
    const viaAlias = await aliasClick();
    assert.equal(viaAlias.status, 200);
    const aliceClicks = (await collector.api("GET", "/api/v1/events?kind=click&affiliate=alice", ADMIN_KEY)).body;
    assert.ok(JSON.stringify(aliceClicks).includes((await viaAlias.json()).cid), "the alias's click is alice's");
    await page.click('tr[data-code="alice"] [data-testid="affiliate-alias-remove"]');
    await eventually(() => page.evaluate(() =>
      !document.querySelector('tr[data-code="alice"] [data-testid="affiliate-alias"]')), 8000, "alias removed");
    assert.equal((await aliasClick()).status, 404);

    // the audit log names the key that made each change
    const audit = await collector.api("GET", "/api/v1/audit", ADMIN_KEY);
    const me = (await collector.api("GET", "/api/v1/whoami", ADMIN_KEY)).body.key_id;
    assert.deepEqual(audit.body.audit.map((a) => a.action), ["DELETE /api/v1/affiliates/alice/aliases/alice-ps-key",
      "POST /api/v1/affiliates/alice/aliases", "POST /api/v1/affiliates/alice/portal-link",
      "PATCH /api/v1/affiliates/newaff", "POST /api/v1/payouts", "POST /api/v1/affiliates"]);
    assert.ok(audit.body.audit.every((a) => a.actor === me));
    assert.ok(!JSON.stringify(audit.body).includes(portal.split("/portal/")[1] || "no token"), "no portal token in the audit");

    // signed out: the key is gone from the tab
    await page.click(testid("signout"));
    await page.waitForSelector(`${testid("dashboard")}[data-signed-in="no"]`);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("clicktrail_dashboard_key")), null);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.deepEqual(await page.pageErrors(), []);
    assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], "nothing the dashboard does breaks its CSP");
    await sleep(0);
  });

  test("a read key sees the figures and no admin section", async () => {
    const page = await engine.newPage(site);
    await page.goto(`${collector.origin}/dashboard`);
    await page.waitForSelector(`${testid("dashboard")}[data-signed-in="no"]`);
    await page.fill(testid("api-key"), INGEST_KEY);
    await page.click(testid("signin-submit"));
    await page.waitForSelector(`${testid("dashboard")}[data-signed-in="read"]`);
    await page.waitForSelector('tr[data-testid="event-row"][data-kind="sale"]');
    assert.equal(await page.evaluate(() => document.getElementById("admin").hidden), true);
    // the first test's two clicks: newaff's and alice's through her alias
    assert.equal(await page.getAttribute(testid("total-clicks"), "data-value"), "2");
    // another browsing context starts signed out (nothing in localStorage or cookies)
    const other = await engine.newPage(site);
    await other.goto(`${collector.origin}/dashboard`);
    await other.waitForSelector(`${testid("dashboard")}[data-signed-in="no"]`);
    assert.deepEqual(await page.pageErrors(), []);
  });

  test("outgoing webhooks: add an endpoint, a signed lead event reaches a real receiver, the log shows it, disable", async () => {
    // a receiver that checks the Clicktrail-Signature with the secret the dashboard showed once
    let secret = null;
    const got = [];
    const receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        const sig = String(req.headers["clicktrail-signature"] || "");
        const t = /t=(\d+)/.exec(sig)?.[1];
        const v1 = /v1=([0-9a-f]{64})/.exec(sig)?.[1];
        const want = t && secret && createHmac("sha256", secret).update(`${t}.${body}`).digest();
        const ok = !!(v1 && want && timingSafeEqual(Buffer.from(v1, "hex"), want));
        got.push({ ok, event: JSON.parse(body) });
        res.writeHead(ok ? 200 : 400).end();
      });
    });
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
    const hook = `http://127.0.0.1:${receiver.address().port}/hook`;
    try {
      const page = await engine.newPage(site);
      await page.goto(`${collector.origin}/dashboard`);
      await page.evaluate(() => {
        window.__cspViolations = [];
        document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
      });
      await page.fill(testid("api-key"), ADMIN_KEY);
      await page.click(testid("signin-submit"));
      await page.waitForSelector(`${testid("dashboard")}[data-signed-in="admin"]`);
      await page.fill(testid("webhook-url"), hook);
      for (const kind of ["sale", "refund", "payout", "affiliate.approved"]) {
        await page.click(`${testid("webhook-events")} input[value="${kind}"]`); // leads only
      }
      await page.click(testid("webhook-add"));
      await page.waitForSelector(`${testid("webhook-secret")}:not([hidden])`);
      secret = (await page.textContent(testid("webhook-secret-value"))).trim();
      assert.match(secret, /.{24,}/);
      const row = `[data-testid="webhook-row"][data-enabled="true"]`;
      await page.waitForSelector(row);
      assert.equal((await page.textContent(`${row} td[data-col="events"]`)).trim(), "lead");
      const listed = await collector.api("GET", "/api/v1/webhook-endpoints", ADMIN_KEY);
      assert.ok(!JSON.stringify(listed.body).includes(secret), "the secret is not listed again");

      // a lead for a click: its event is sent once the lead is a minute old
      const click = await fetch(`${collector.origin}/tracking/click/v1`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ tenantId: "shop", eventId: crypto.randomUUID(), aff: "alice" }),
      }).then((r) => r.json());
      const lead = await collector.api("POST", "/api/v1/track/lead", INGEST_KEY,
        { click_id: click.cid, customer_key: "hook-customer-1" });
      assert.equal(lead.status, 200, JSON.stringify(lead.body));
      const event = await eventually(() => got.find((g) => g.event.type === "lead"
        && g.event.data.customerKey === "hook-customer-1"), 150000, "the lead event at the receiver");
      assert.equal(event.ok, true, "signature verified");
      assert.equal(event.event.data.affiliate, "alice");

      // the delivery log in the dashboard
      await page.click(`${row} [data-testid="deliveries"]`);
      const delivered = `[data-testid="delivery-row"][data-event="${event.event.id}"][data-delivered="true"]`;
      await page.waitForSelector(delivered);
      assert.equal((await page.textContent(`${delivered} td[data-col="attempts"]`)).trim(), "1");

      // disabled with a reason, shown as such
      await page.click(`${row} [data-testid="disable"]`);
      await page.waitForSelector('[data-testid="webhook-row"][data-enabled="false"]');
      assert.match(await page.textContent('[data-testid="webhook-row"] td[data-col="status"]'), /disabled: disabled in the dashboard/);
      assert.deepEqual(await page.pageErrors(), []);
      assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], "nothing breaks the dashboard's CSP");
    } finally {
      receiver.close();
    }
  });
});
