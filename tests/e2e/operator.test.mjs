// The operator's path with the shipped files, end to end: nginx runs
// deploy/nginx/collector.conf (TLS with a self-signed certificate for both names, the
// two-server upstream) in front of a collector started as the unit starts it
// (`serve --config`, the file naming an SQLite database). Chromium clicks through the shop's
// first-party path, a lead and a signed Stripe sale arrive through nginx; `backup --dir` makes
// an owner-only copy and a restore from it gives the same report (the collector and the
// commands run as a service user, `nobody`, when the test runs as root: a restored file left
// root's is refused, `chown` makes it work); then `migrate` copies the
// SQLite database into PostgreSQL with every count and money sum checked, the config file
// names PostgreSQL, and two collectors serve behind the upstream with the same report, one of
// them stopped without a request failing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, existsSync, chmodSync, chownSync, statSync, readdirSync, copyFileSync } from "node:fs";
import { createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { ROOT, freePort, eventually, sleep, stopChild, trackdeskSnippet, API_KEY, UUID_V4 } from "./harness.mjs";

const NGINX = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].find((p) => existsSync(p));
const PSQL = ["/usr/bin/psql", ...(() => {
  try { return readdirSync("/usr/lib/postgresql").map((v) => `/usr/lib/postgresql/${v}/bin/psql`); } catch { return []; }
})()].find((p) => existsSync(p));
const SHOP = "shop.example.com";
const TRACK = "track.example.com";
const BINARY = resolve(ROOT, process.env.CARGO_TARGET_DIR || "target", process.env.COLLECTOR_PROFILE || "debug",
  "clicktrail-collector");

let dir, nginx, browser, port, ports, pgBase, startedCluster;
// the service user (as the unit's User=clicktrail): nobody, when this test may switch users and
// nobody can run the binary and read the tracker (a checkout under a private home cannot)
const SERVICE = (() => {
  if (process.getuid?.() !== 0) return {};
  const nobody = { uid: 65534, gid: 65534 };
  try {
    execFileSync(BINARY, ["--version"], { stdio: "ignore", ...nobody });
    readdirSync(join(ROOT, "dist"));
    execFileSync("test", ["-r", join(ROOT, "dist/tracking.js")], { stdio: "ignore", ...nobody });
    return nobody;
  } catch {
    return {};
  }
})();
const collectors = new Map();

function config(database) {
  return `[server]
database = "${database}"
trusted_proxies = ["127.0.0.1/32"]
public_url = "https://${TRACK}:${port}"

[[tenants]]
id = "demo"
allowed_origins = ["https://${SHOP}:${port}"]
api_key = "${API_KEY}"
admin_key = "demo_admin_key"
stripe_webhook_secret = "whsec_demo"
count_test_payments = true
affiliates = ["alice", "bob"]
[tenants.conversion_types.sale]
revenue_share_percent = "30"
`;
}

function cli(...args) {
  // an empty CLICKTRAIL_DB names nothing: the config file decides
  return execFileSync(BINARY, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...SERVICE,
    env: { ...process.env, RUST_LOG: "warn", CLICKTRAIL_DB: "" } });
}

/** `serve --config` on one of the two upstream ports, as clicktrail@PORT runs it. */
async function startCollector(p) {
  const env = { ...process.env, RUST_LOG: "warn" };
  delete env.CLICKTRAIL_DB;
  const child = spawn(BINARY, ["serve", "--config", join(dir, "clicktrail.toml"), "--listen", `127.0.0.1:${p}`,
    "--dist", join(ROOT, "dist")], { stdio: ["ignore", "pipe", "pipe"], env, ...SERVICE });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`collector exited: ${log}`);
    return (await fetch(`http://127.0.0.1:${p}/readyz`).catch(() => null))?.ok;
  }, 20000, "the collector ready");
  collectors.set(p, child);
}

async function stopCollector(p) {
  await stopChild(collectors.get(p));
  collectors.delete(p);
}

function curl(method, url, headers = {}, body) {
  const args = ["-sk", "--resolve", `${TRACK}:${port}:127.0.0.1`, "--resolve", `${SHOP}:${port}:127.0.0.1`,
    "-X", method, "-w", "\n%{http_code}", url];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  if (body !== undefined) args.push("--data-binary", body);
  const out = execFileSync("curl", args, { encoding: "utf8" });
  const i = out.lastIndexOf("\n");
  return { status: Number(out.slice(i + 1)), text: out.slice(0, i) };
}

function report() {
  const r = curl("GET", `https://${TRACK}:${port}/api/v1/report?from=2000-01-01&to=2099-12-31`,
    { authorization: `Bearer ${API_KEY}` });
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text);
}

const skip = NGINX && PSQL ? {} : { skip: "nginx or PostgreSQL is not installed (scripts/setup.sh installs both)" };

before(async () => {
  if (skip.skip) return;
  dir = mkdtempSync(join(tmpdir(), "clicktrail-operator-"));
  chmodSync(dir, 0o755);
  port = await freePort();
  ports = [await freePort(), await freePort()];
  pgBase = process.env.CLICKTRAIL_TEST_PG;
  if (!pgBase) {
    const out = execFileSync("bash", [join(ROOT, "scripts/pg-test-cluster.sh"), "start"],
      { encoding: "utf8", env: { ...process.env, CLICKTRAIL_PG_DIR: join(dir, "pg") } });
    pgBase = /CLICKTRAIL_TEST_PG=(\S+)/.exec(out)[1].replace(/^['"]|['"]$/g, "");
    startedCluster = true;
  }
  mkdirSync(join(dir, "ssl"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    "-subj", `/CN=${TRACK}`, "-addext", `subjectAltName=DNS:${TRACK},DNS:${SHOP}`,
    "-keyout", join(dir, "ssl/privkey.pem"), "-out", join(dir, "ssl/fullchain.pem")], { stdio: "ignore" });
  mkdirSync(join(dir, "shop"));
  writeFileSync(join(dir, "shop/index.html"), `<!doctype html><title>shop</title>\n${trackdeskSnippet("/_ct/tracking.js")}`);
  const site = readFileSync(join(ROOT, "deploy/nginx/collector.conf"), "utf8")
    .replaceAll("127.0.0.1:8080", `127.0.0.1:${ports[0]}`)
    .replaceAll("127.0.0.1:8081", `127.0.0.1:${ports[1]}`)
    .replaceAll("listen 443 ssl http2;", `listen 127.0.0.1:${port} ssl http2;`)
    .replaceAll("listen 80;", `listen 127.0.0.1:${await freePort()};`)
    .replaceAll("/etc/letsencrypt/live/track.example.com/", `${dir}/ssl/`)
    .replaceAll("/var/www/letsencrypt", `${dir}/acme`)
    .replaceAll("/var/www/shop", `${dir}/shop`);
  writeFileSync(join(dir, "site.conf"), site);
  writeFileSync(join(dir, "nginx.conf"), `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp-body;
  proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi;
  scgi_temp_path ${dir}/tmp-scgi;
  types { text/html html; application/javascript js; application/wasm wasm; }
  include ${dir}/site.conf;
}
`);
  execFileSync(NGINX, ["-t", "-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "pipe" });
  nginx = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "ignore" });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
      `--host-resolver-rules=MAP ${SHOP} 127.0.0.1, MAP ${TRACK} 127.0.0.1`],
  });
});

after(async () => {
  await browser?.close();
  for (const p of [...collectors.keys()]) await stopCollector(p);
  await stopChild(nginx);
  if (startedCluster) {
    execFileSync("bash", [join(ROOT, "scripts/pg-test-cluster.sh"), "stop"],
      { stdio: "ignore", env: { ...process.env, CLICKTRAIL_PG_DIR: join(dir, "pg") } });
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("SQLite behind nginx, backup and restore, migrate to PostgreSQL, two collectors behind the upstream", skip, async () => {
  // 1. one collector on SQLite (the upstream's second server is down: nginx uses the first)
  mkdirSync(join(dir, "data"), { mode: 0o700 });
  if (SERVICE.uid !== undefined) chownSync(join(dir, "data"), SERVICE.uid, SERVICE.gid);
  const sqlite = join(dir, "data/clicktrail.db");
  writeFileSync(join(dir, "clicktrail.toml"), config(sqlite));
  chmodSync(join(dir, "clicktrail.toml"), 0o644);
  await startCollector(ports[0]);
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await ctx.newPage();
  await page.goto(`https://${SHOP}:${port}/?aff=alice`);
  const click = await eventually(() => page.evaluate(() => window.__clickResult), 10000, "click callback");
  assert.match(click.cid, UUID_V4);
  assert.equal(curl("GET", `https://${SHOP}:${port}/_ct/dashboard`).status, 404, "no dashboard on the shop");
  for (let i = 0; i < 3; i++) {
    const r = curl("POST", `https://${SHOP}:${port}/_ct/tracking/click/v1`,
      { origin: `https://${SHOP}:${port}`, "content-type": "text/plain" },
      JSON.stringify({ tenantId: "demo", eventId: crypto.randomUUID(), aff: "bob" }));
    assert.equal(r.status, 200, r.text);
  }
  const lead = curl("POST", `https://${TRACK}:${port}/api/v1/track/lead`,
    { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    JSON.stringify({ click_id: click.cid, customer_key: "cust-op" }));
  assert.equal(lead.status, 200, lead.text);
  const now = Math.floor(Date.now() / 1000);
  const event = JSON.stringify({ id: "evt_op_1", type: "checkout.session.completed", livemode: false,
    data: { object: { id: "cs_op_1", object: "checkout.session", amount_total: 12345, currency: "usd",
      client_reference_id: click.cid, metadata: {} } } });
  const sig = createHmac("sha256", "whsec_demo").update(`${now}.${event}`).digest("hex");
  const hook = curl("POST", `https://${TRACK}:${port}/webhooks/stripe`,
    { "stripe-signature": `t=${now},v1=${sig}`, "content-type": "application/json" }, event);
  assert.equal(hook.status, 200, hook.text);
  const before = report();
  const alice = before.affiliates.find((a) => a.affiliate === "alice");
  assert.deepEqual([alice.clicks, alice.leads, alice.conversions, alice.revenueCents, alice.commissionCents],
    [1, 1, 1, 12345, 3704]);
  assert.equal(before.affiliates.find((a) => a.affiliate === "bob").clicks, 3);
  assert.equal(statSync(sqlite).mode & 0o777, 0o600, "the database is the service user's only");

  // 2. backup (owner-only, in a folder it creates) and a restore from it
  const out = cli("backup", "--config", join(dir, "clicktrail.toml"), "--dir", join(dir, "data/backups"), "--keep-days", "14");
  const copy = /backed up .* to (\S+)/.exec(out)[1];
  assert.equal(statSync(copy).mode & 0o777, 0o600);
  if (SERVICE.uid !== undefined) assert.equal(statSync(copy).uid, SERVICE.uid, "the service user's copy");
  await stopCollector(ports[0]);
  for (const f of ["", "-wal", "-shm"]) rmSync(`${sqlite}${f}`, { force: true });
  copyFileSync(copy, sqlite); // as root: the file is root's
  if (SERVICE.uid !== undefined) {
    await assert.rejects(startCollector(ports[0]), /collector exited: [^]*(cannot open database|denied|readonly)/i,
      "a root-owned restore is refused");
    chownSync(sqlite, SERVICE.uid, SERVICE.gid);
  }
  await startCollector(ports[0]);
  assert.deepEqual(report(), before, "the restored database reports the same");

  // 3. migrate to PostgreSQL (collectors stopped), every count and money sum verified
  await stopCollector(ports[0]);
  const dbName = `ct_op_${process.pid}_${Date.now()}`;
  execFileSync(PSQL, [pgBase, "-qc", `CREATE DATABASE ${dbName}`], { stdio: "pipe" });
  const pg = pgBase.replace(/\/[^/]*$/, `/${dbName}`);
  const moved = cli("migrate", "--from", `sqlite://${sqlite}`, "--to", pg);
  assert.match(moved, /copied clicks: 4 rows/);
  assert.match(moved, /verified: \d+ tables/);
  assert.throws(() => cli("migrate", "--from", `sqlite://${sqlite}`, "--to", pg), /not empty/);

  // 4. two collectors on PostgreSQL behind the upstream: the same report, both serving
  writeFileSync(join(dir, "clicktrail.toml"), config(pg));
  await startCollector(ports[0]);
  await startCollector(ports[1]);
  assert.deepEqual(report(), before, "PostgreSQL reports what SQLite did");
  // nginx gave the second server up while it was down (fail_timeout=5s in the shipped file):
  // after that it is tried again
  await sleep(5500);
  for (let i = 0; i < 6; i++) {
    const r = curl("POST", `https://${SHOP}:${port}/_ct/tracking/click/v1`,
      { origin: `https://${SHOP}:${port}`, "content-type": "text/plain" },
      JSON.stringify({ tenantId: "demo", eventId: crypto.randomUUID(), aff: "bob" }));
    assert.equal(r.status, 200, r.text);
  }
  const served = await Promise.all(ports.map(async (p) => {
    const m = await (await fetch(`http://127.0.0.1:${p}/metrics`)).text();
    return Number(/clicktrail_http_requests_total\{route="\/tracking\/click\/v1",status="200"\} (\d+)/.exec(m)?.[1] || 0);
  }));
  assert.ok(served.every((n) => n > 0), `both collectors served clicks: ${served}`);
  // one collector stops (an upgrade, a crash): requests keep succeeding through the other
  await stopCollector(ports[1]);
  for (let i = 0; i < 4; i++) {
    const r = curl("POST", `https://${SHOP}:${port}/_ct/tracking/click/v1`,
      { origin: `https://${SHOP}:${port}`, "content-type": "text/plain" },
      JSON.stringify({ tenantId: "demo", eventId: crypto.randomUUID(), aff: "bob" }));
    assert.equal(r.status, 200, r.text);
  }
  assert.equal(report().affiliates.find((a) => a.affiliate === "bob").clicks, 3 + 6 + 4);
  await ctx.close();
});
