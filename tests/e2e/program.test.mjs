// The affiliate program end to end, in Chromium, with a real SMTP server (Debian's
// python3-aiosmtpd, tests/smtp/sink.py) and the collector as an operator runs it
// (`serve --config` with `[smtp]` and `[tenants.program]`), once on SQLite and once on
// PostgreSQL: someone applies on the join page, the operator approves in the dashboard, the
// applicant's email arrives with the portal link, the link builder makes a link to a product
// page of the shop, a visit through it is a click, and the portal's chart shows that click.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync, readdirSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROOT, Site, freePort, eventually, stopChild, startEngine, trackdeskSnippet } from "./harness.mjs";

const BINARY = resolve(ROOT, process.env.CARGO_TARGET_DIR || "target", process.env.COLLECTOR_PROFILE || "debug",
  "clicktrail-collector");
const PYTHON = "/usr/bin/python3"; // Debian's, where python3-aiosmtpd is installed
const PSQL = ["/usr/bin/psql", ...(() => {
  try { return readdirSync("/usr/lib/postgresql").map((v) => `/usr/lib/postgresql/${v}/bin/psql`); } catch { return []; }
})()].find((p) => existsSync(p));
const ADMIN_KEY = "tea_admin_key_1";
const hasSmtp = (() => {
  try { execFileSync(PYTHON, ["-c", "import aiosmtpd"], { stdio: "ignore" }); return true; } catch { return false; }
})();

let dir, engine, pgBase, startedCluster;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "clicktrail-program-"));
  chmodSync(dir, 0o755); // the throwaway cluster runs as the postgres user
  engine = await startEngine("chromium");
  pgBase = process.env.CLICKTRAIL_TEST_PG;
  if (!pgBase && PSQL) {
    const out = execFileSync("bash", [join(ROOT, "scripts/pg-test-cluster.sh"), "start"],
      { encoding: "utf8", env: { ...process.env, CLICKTRAIL_PG_DIR: join(dir, "pg") } });
    pgBase = /CLICKTRAIL_TEST_PG=(\S+)/.exec(out)[1].replace(/^['"]|['"]$/g, "");
    startedCluster = true;
  }
});

after(async () => {
  await engine?.stop();
  if (startedCluster) {
    execFileSync("bash", [join(ROOT, "scripts/pg-test-cluster.sh"), "stop"],
      { stdio: "ignore", env: { ...process.env, CLICKTRAIL_PG_DIR: join(dir, "pg") } });
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The SMTP server: every message lands in `out` as <n>.eml. */
async function startSmtp(out) {
  const child = spawn(PYTHON, [join(ROOT, "tests/smtp/sink.py"), out], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  const port = await new Promise((ok, fail) => {
    child.stdout.once("data", (d) => ok(Number(/listening (\d+)/.exec(String(d))[1])));
    child.once("exit", () => fail(new Error(`SMTP sink exited: ${log}`)));
  });
  return { child, port, out };
}

function mails(out) {
  return readdirSync(out).filter((f) => f.endsWith(".eml")).map((f) => readFileSync(join(out, f), "utf8"));
}

function config({ database, port, smtpPort, shop }) {
  return `[server]
database = "${database}"
public_url = "http://127.0.0.1:${port}"

[smtp]
host = "127.0.0.1"
port = ${smtpPort}
tls = "none"
from = "Tea Shop Partners <partners@tea.test>"

[[tenants]]
id = "tea"
api_key = "tea_api_key_1"
admin_key = "${ADMIN_KEY}"
allowed_origins = ["${shop}"]
hold_days = 0

[tenants.conversion_types.sale]
revenue_share_percent = "30"

[tenants.program]
name = "Tea Shop Partners"
shop_url = "${shop}/"
operator_email = "ops@tea.test"
`;
}

async function startCollector(file, port) {
  const child = spawn(BINARY, ["serve", "--config", file, "--listen", `127.0.0.1:${port}`,
    "--dist", join(ROOT, "dist"), "--www", join(ROOT, "www")],
  { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn", CLICKTRAIL_DB: "" } });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`collector exited: ${log}`);
    return (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok;
  }, 20000, "the collector ready");
  child.log = () => log;
  return child;
}

for (const backend of ["sqlite", "postgres"]) {
  const skip = !hasSmtp ? "python3-aiosmtpd is not installed (scripts/setup.sh installs it)"
    : backend === "postgres" && !PSQL ? "PostgreSQL is not installed (scripts/setup.sh installs it)" : false;
  test(`apply, approve, email, link builder, click in the portal chart (${backend})`, { skip }, async () => {
    const work = mkdtempSync(join(dir, `${backend}-`));
    const smtp = await startSmtp(join(work, "mail"));
    const port = await freePort();
    const shop = await new Site({ upstream: { host: "127.0.0.1", port } }).start();
    const page = `<!doctype html><title>Tea shop</title><h1>Tea</h1>\n${trackdeskSnippet("/tracking.js", "", "tea")}`;
    shop.page("/", page);
    shop.page("/products/green-tea", page);
    let database = join(work, "clicktrail.db");
    if (backend === "postgres") {
      const name = `ct_program_${process.pid}_${Date.now()}`;
      execFileSync(PSQL, [pgBase, "-qc", `CREATE DATABASE ${name}`], { stdio: "pipe" });
      database = pgBase.replace(/\/[^/]*$/, `/${name}`);
    }
    const file = join(work, "clicktrail.toml");
    writeFileSync(file, config({ database, port, smtpPort: smtp.port, shop: shop.origin }));
    const collector = await startCollector(file, port);
    const origin = `http://127.0.0.1:${port}`;
    try {
      // 1. the applicant
      const visitor = await engine.newPage();
      await visitor.goto(`${origin}/join/tea`);
      await visitor.waitForSelector("#apply:not([hidden])");
      assert.equal((await visitor.textContent("#program")).trim(), "Tea Shop Partners");
      await visitor.fill("#name", "Ana Lima");
      await visitor.fill("#email", "ana@example.test");
      await visitor.fill("#website", "https://ana.example.test");
      await visitor.fill("#promotion", "A weekly newsletter about tea");
      await visitor.fill("#code", "AnaTea");
      await visitor.click("#send");
      await visitor.waitForSelector("#done:not([hidden])");
      assert.match(await visitor.textContent("#done"), /application was received/);
      // the operator is told
      await eventually(() => mails(smtp.out).some((m) => /X-Envelope-To: ops@tea\.test/.test(m)), 15000,
        "the operator's email");

      // 2. the operator approves in the dashboard
      const operator = await engine.newPage();
      await operator.goto(`${origin}/dashboard`);
      await operator.fill("#api-key", ADMIN_KEY);
      await operator.click("#signin");
      const row = '[data-testid="application-row"][data-email="ana@example.test"]';
      await operator.waitForSelector(`${row}[data-status="pending"] [data-testid="approve"]`, 15000);
      await operator.click(`${row} [data-testid="approve"]`);
      await operator.waitForSelector(`${row}[data-status="approved"]`, 15000);
      assert.match(await operator.textContent(`${row} td[data-col="status"]`), /approved as anatea/);

      // 3. the approval email carries the portal link (absolute, from public_url)
      const approval = await eventually(() => mails(smtp.out).find((m) => /X-Envelope-To: ana@example\.test/.test(m)),
        15000, "the approval email");
      assert.match(approval, /Your affiliate code is: anatea/);
      const portal = new RegExp(`${origin.replace(/[.:/]/g, "\\$&")}/portal/[0-9a-f]{64}`).exec(approval.replace(/=\r?\n/g, ""));
      assert.ok(portal, `no portal link in ${approval}`);

      // the operator gives the new affiliate a coupon code and a PartnerStack partner key
      const admin = (method, path, body) => fetch(`${origin}${path}`, {
        method, headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.equal((await admin("POST", "/api/v1/affiliates/anatea/aliases", { alias: "ana-ps-key" })).status, 201);
      assert.equal((await admin("PUT", "/api/v1/rules", { coupons: { ANA10: "anatea" } })).status, 200);

      // 4. the affiliate builds a link to a product page and a visitor follows it
      const affiliate = await engine.newPage();
      await affiliate.goto(portal[0]);
      await affiliate.waitForSelector("#content:not([hidden])");
      assert.equal((await affiliate.textContent("#share-link")).trim(), `${shop.origin}/?aff=anatea`);
      await affiliate.fill("#builder-url", `${shop.origin}/products/green-tea`);
      await affiliate.click("#builder-go");
      await affiliate.waitForSelector("#builder-result:not([hidden])");
      const built = await affiliate.getAttribute("#built-link", "href");
      assert.equal(built, `${shop.origin}/products/green-tea?aff=anatea`);
      // the partner-link form beside it, and the coupon code
      assert.deepEqual(await affiliate.evaluate(() => [...document.querySelectorAll('[data-testid="partner-link"]')].map((e) => e.textContent)),
        [`${shop.origin}/products/green-tea?${new URLSearchParams({ gspk: Buffer.from("ana-ps-key").toString("base64") })}`]);
      assert.deepEqual(await affiliate.evaluate(() => [...document.querySelectorAll('[data-testid="coupon-code"]')].map((e) => e.textContent)), ["ana10"]);
      const buyer = await engine.newPage();
      await buyer.goto(built);
      await buyer.waitForFunction(() => window.__clickResult && window.__clickResult.cid, undefined, 15000);

      // 5. the click is in the portal's chart
      await eventually(async () => {
        await affiliate.goto(portal[0]);
        await affiliate.waitForSelector("#content:not([hidden])");
        return affiliate.evaluate(() => {
          const bar = document.querySelector('#chart svg rect[data-series="clicks"]');
          return bar && bar.getAttribute("data-value") === "1";
        });
      }, 15000, "the click in the portal's chart");
      assert.match(await affiliate.textContent('#legend [data-series="clicks"]'), /clicks: 1/);

      // 6. the visitor buys; the affiliate gives a PayPal address; the operator's payout
      // screen shows where to pay
      const cid = await buyer.evaluate(() => window.__clickResult.cid);
      const sale = await fetch(`${origin}/api/v1/track/sale`, {
        method: "POST",
        headers: { authorization: "Bearer tea_api_key_1", "content-type": "application/json" },
        body: JSON.stringify({ click_id: cid, transaction_id: `program-${backend}`, amount_cents: 10000, currency: "USD" }),
      });
      assert.ok(sale.ok, await sale.text());
      await affiliate.fill("#details-address", "not-an-email");
      await affiliate.click('#details button[type="submit"]');
      await affiliate.waitForFunction(() => /PayPal address is an email/.test(document.querySelector("#details-status").textContent));
      await affiliate.fill("#details-method", "paypal");
      await affiliate.fill("#details-address", "ana@pay.example.test");
      await affiliate.click('#details button[type="submit"]');
      await affiliate.waitForFunction(() => document.querySelector("#details-status").textContent === "Saved.");
      await operator.click('[data-testid="due-refresh"]');
      const due = '[data-testid="due-row"][data-affiliate="anatea"]';
      await operator.waitForSelector(due, 15000);
      assert.equal((await operator.textContent(`${due} td[data-col="pay-to"]`)).trim(), "paypal: ana@pay.example.test");
      assert.match(await operator.textContent(`${due} td[data-col="amount"]`), /30\.00/);
    } catch (e) {
      e.message += `\ncollector log:\n${collector.log()}`;
      throw e;
    } finally {
      await engine.closePages();
      await stopChild(collector);
      await stopChild(smtp.child);
      await shop.stop();
    }
  });
}
