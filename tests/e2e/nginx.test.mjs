// Behind a real reverse proxy: Debian's nginx runs the repository's own
// deploy/nginx/collector.conf (names, ports and certificate paths substituted) in front of
// the real collector started as an operator does (`serve --config`, the config naming its
// database, trusted_proxies and public_url), with TLS terminated by nginx (a self-signed
// certificate for both names made here with openssl), and Chromium drives the funnel through
// it: the merchant's first-party path /_ct/ (the collector's Set-Cookie arrives through the
// proxy; nothing but the tracker is reachable there), the collector's own host, a lead, a
// signed Stripe webhook, a portal link and the report — all over https through nginx; /metrics
// answers the local operator only.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, existsSync, chmodSync } from "node:fs";
import { createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { ROOT, freePort, eventually, sleep, stopChild, trackdeskSnippet, API_KEY, UUID_V4 } from "./harness.mjs";

const NGINX = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].find((p) => existsSync(p));
const SHOP = "shop.example.com";
const TRACK = "track.example.com";
const DAY = 86400;

const BINARY = resolve(ROOT, process.env.CARGO_TARGET_DIR || "target", process.env.COLLECTOR_PROFILE || "debug",
  "clicktrail-collector");

let dir, collector, collectorPort, nginx, browser, port, httpPort;

/** `serve --config FILE` as the systemd unit runs it (the file names the database). */
async function startCollector(config) {
  collectorPort = await freePort();
  const child = spawn(BINARY, ["serve", "--config", config, "--listen", `127.0.0.1:${collectorPort}`,
    "--dist", join(ROOT, "dist")], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`collector exited: ${log}`);
    return (await fetch(`http://127.0.0.1:${collectorPort}/healthz`)).ok;
  }, 15000, "the collector answering");
  return child;
}

/** The collector and nginx in front of it, on ports picked now; true once nginx answers over
 * TLS, false (both stopped, nginx's error log printed) when nginx exits or stays silent: a port
 * picked free can be taken before nginx binds it, and the caller then tries new ones. */
async function startStack() {
  dir = mkdtempSync(join(tmpdir(), "clicktrail-nginx-"));
  chmodSync(dir, 0o755); // nginx's workers (not root) read the shop's pages from here
  port = await freePort();
  // the operator's configuration: database, the proxy trusted, absolute portal links
  writeFileSync(join(dir, "clicktrail.toml"), `[server]
database = "${dir}/data/clicktrail.db"
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
`);
  mkdirSync(join(dir, "data"));
  collector = await startCollector(join(dir, "clicktrail.toml"));
  // a self-signed certificate for both names
  mkdirSync(join(dir, "ssl"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    "-subj", `/CN=${TRACK}`, "-addext", `subjectAltName=DNS:${TRACK},DNS:${SHOP}`,
    "-keyout", join(dir, "ssl/privkey.pem"), "-out", join(dir, "ssl/fullchain.pem")], { stdio: "ignore" });
  // the merchant's own page
  mkdirSync(join(dir, "shop"));
  writeFileSync(join(dir, "shop/index.html"), `<!doctype html><title>shop</title>
${trackdeskSnippet("/_ct/tracking.js")}`);
  writeFileSync(join(dir, "shop/third-party.html"), `<!doctype html><title>shop</title>
${trackdeskSnippet(`https://${TRACK}:${port}/tracking.js`)}`);
  // the repository's configuration, as shipped, with this run's ports and paths
  const site = readFileSync(join(ROOT, "deploy/nginx/collector.conf"), "utf8")
    // one collector here: both upstream servers are it
    .replaceAll("127.0.0.1:8080", `127.0.0.1:${collectorPort}`)
    .replaceAll("127.0.0.1:8081", `127.0.0.1:${collectorPort}`)
    .replaceAll("listen 443 ssl http2;", `listen 127.0.0.1:${port} ssl http2;`)
    .replaceAll("listen 80;", `listen 127.0.0.1:${(httpPort = await freePort())};`)
    .replaceAll("/etc/letsencrypt/live/track.example.com/", `${dir}/ssl/`)
    .replaceAll("/var/www/letsencrypt", `${dir}/acme`)
    .replaceAll("/var/www/shop", `${dir}/shop`);
  for (const needle of ["127.0.0.1:8080", "127.0.0.1:8081", "/etc/letsencrypt/live/track.example.com/"]) {
    assert.ok(!site.includes(needle), `deploy/nginx/collector.conf: ${needle} left`);
  }
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
  nginx = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  nginx.stderr.on("data", (d) => (stderr += d));
  for (const deadline = Date.now() + 15000; Date.now() < deadline && nginx.exitCode === null; await sleep(100)) {
    try {
      execFileSync("curl", ["-sk", "-o", "/dev/null", "--max-time", "2", "--resolve", `${TRACK}:${port}:127.0.0.1`,
        `https://${TRACK}:${port}/healthz`]);
      return true;
    } catch {
      // not answering yet
    }
  }
  const log = existsSync(join(dir, "error.log")) ? readFileSync(join(dir, "error.log"), "utf8") : "";
  console.log(`nginx on ${port}/${httpPort} did not answer (exit ${nginx.exitCode}): ${stderr}${log}`);
  await stopChild(nginx);
  await stopChild(collector);
  rmSync(dir, { recursive: true, force: true });
  return false;
}

before(async () => {
  if (!NGINX) return;
  let up = false;
  for (let attempt = 0; attempt < 3 && !up; attempt++) up = await startStack();
  assert.ok(up, "nginx answered on none of three sets of ports (its error log is printed above)");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
      `--host-resolver-rules=MAP ${SHOP} 127.0.0.1, MAP ${TRACK} 127.0.0.1`],
  });
});

after(async () => {
  await browser?.close();
  await stopChild(nginx);
  await stopChild(collector);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** nginx -t on a configuration that includes `site` (a server file). */
function nginxTest(site) {
  const name = `check-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, `${name}.conf`), site);
  writeFileSync(join(dir, `${name}-main.conf`), `pid ${dir}/${name}.pid;
error_log ${dir}/${name}.log warn;
events { worker_connections 16; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp-body;
  proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi;
  scgi_temp_path ${dir}/tmp-scgi;
  include ${dir}/${name}.conf;
}
`);
  execFileSync(NGINX, ["-t", "-q", "-p", dir, "-c", join(dir, `${name}-main.conf`)], { stdio: "pipe" });
}

/** fetch through nginx over TLS (Node trusts nothing self-signed: curl -k). */
function curl(method, url, headers = {}, body) {
  const args = ["-sk", "--resolve", `${TRACK}:${port}:127.0.0.1`, "--resolve", `${SHOP}:${port}:127.0.0.1`,
    "-X", method, "-w", "\n%{http_code}", url];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  if (body !== undefined) args.push("--data-binary", body);
  const out = execFileSync("curl", args, { encoding: "utf8" });
  const i = out.lastIndexOf("\n");
  return { status: Number(out.slice(i + 1)), text: out.slice(0, i) };
}

const skip = NGINX ? {} : { skip: "nginx is not installed (scripts/setup.sh installs nginx-light)" };

test("the funnel through nginx: first-party /_ct/ with the collector's cookie, the collector host, a lead, a Stripe sale, the report", skip, async () => {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => process.env.E2E_DEBUG && console.log("console:", m.text()));

  // 1. first-party: the shop's page loads /_ct/tracking.js from its own origin
  await page.goto(`https://${SHOP}:${port}/?aff=alice`);
  const click = await eventually(() => page.evaluate(() => window.__clickResult), 10000, "click callback");
  assert.match(click.cid, UUID_V4);
  // the collector's Set-Cookie came back through nginx: a server-set cookie of ~60 days
  const cookie = await eventually(async () => {
    const c = (await ctx.cookies(`https://${SHOP}:${port}/`)).find((x) => x.name === "trakdesk_cid");
    return c && c.expires > Date.now() / 1000 + 59 * DAY ? c : null;
  }, 8000, "trakdesk_cid with a 60-day expiry");
  assert.deepEqual(JSON.parse(cookie.value), { tenantId: "demo", cid: click.cid });
  assert.equal(cookie.httpOnly, false, "page code reads the cookie");
  assert.equal(cookie.secure, true, "https page: Secure");
  // nginx logs a request when it completes, which may be after the click callback (the
  // tracker's own cookie write resolves it): wait for the line.
  const clickLine = /"POST \/_ct\/tracking\/click\/v1 HTTP\/[\d.]+" 200/;
  await eventually(() => clickLine.test(readFileSync(join(dir, "access.log"), "utf8")), 8000,
    "the click went through nginx's /_ct/");

  // 2. the collector's own host (third-party mode) through nginx's TLS
  const page2 = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await page2.goto(`https://${SHOP}:${port}/third-party.html?aff=bob`);
  const click2 = await eventually(() => page2.evaluate(() => window.__clickResult), 10000, "third-party click");
  assert.match(click2.cid, UUID_V4);

  // 3. a lead and a signed Stripe sale, server to server through nginx
  const lead = curl("POST", `https://${TRACK}:${port}/api/v1/track/lead`,
    { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    JSON.stringify({ click_id: click.cid, customer_key: "cust-nginx", email: "n@example.com" }));
  assert.equal(lead.status, 200, lead.text);
  const now = Math.floor(Date.now() / 1000);
  const event = JSON.stringify({ id: "evt_nginx_1", type: "checkout.session.completed", livemode: false,
    data: { object: { id: "cs_nginx_1", object: "checkout.session", amount_total: 4900, currency: "usd",
      client_reference_id: click.cid, metadata: {} } } });
  const sig = createHmac("sha256", "whsec_demo").update(`${now}.${event}`).digest("hex");
  const hook = curl("POST", `https://${TRACK}:${port}/webhooks/stripe`,
    { "stripe-signature": `t=${now},v1=${sig}`, "content-type": "application/json" }, event);
  assert.equal(hook.status, 200, hook.text);

  // 4. the report, read through nginx
  const today = new Date().toISOString().slice(0, 10);
  const rep = curl("GET", `https://${TRACK}:${port}/api/v1/report?from=${today}&to=${today}`,
    { authorization: `Bearer ${API_KEY}` });
  assert.equal(rep.status, 200, rep.text);
  const report = JSON.parse(rep.text);
  const alice = report.affiliates.find((a) => a.affiliate === "alice");
  const bob = report.affiliates.find((a) => a.affiliate === "bob");
  assert.equal(alice.clicks, 1);
  assert.equal(alice.leads, 1);
  assert.equal(alice.conversions, 1);
  assert.equal(alice.revenueCents, 4900);
  assert.equal(alice.commissionCents, 1470);
  assert.equal(bob.clicks, 1);
  // the portal link is absolute (public_url)
  const link = curl("POST", `https://${TRACK}:${port}/api/v1/affiliates/alice/portal-link`,
    { authorization: "Bearer demo_admin_key" });
  assert.equal(link.status, 201, link.text);
  const portalUrl = JSON.parse(link.text).url;
  assert.ok(portalUrl.startsWith(`https://${TRACK}:${port}/portal/`), portalUrl);
  assert.equal(curl("GET", `${portalUrl}.json`).status, 200);
  assert.deepEqual(errors, []);
  await sleep(100);
});

test("TLS from an empty machine: the HTTP-only bootstrap passes nginx -t without certificates, and the webroot challenge is answered for both names", skip, () => {
  // before certbot ran: collector.conf's certificate files do not exist, nginx -t refuses it
  const missing = readFileSync(join(ROOT, "deploy/nginx/collector.conf"), "utf8")
    .replaceAll("listen 443 ssl http2;", `listen 127.0.0.1:${port} ssl http2;`)
    .replaceAll("listen 80;", "listen 127.0.0.1:1;")
    .replaceAll("/etc/letsencrypt/live/track.example.com/", `${dir}/no-such-certificate/`);
  assert.throws(() => nginxTest(missing));
  // the bootstrap file needs none
  nginxTest(readFileSync(join(ROOT, "deploy/nginx/bootstrap-http.conf"), "utf8")
    .replaceAll("listen 80;", "listen 127.0.0.1:1;")
    .replaceAll("/var/www/letsencrypt", `${dir}/acme`));
  // certbot --webroot writes its token under the webroot: both names answer it over plain
  // HTTP (renewals go the same way); anything else is redirected to https
  mkdirSync(join(dir, "acme/.well-known/acme-challenge"), { recursive: true });
  writeFileSync(join(dir, "acme/.well-known/acme-challenge/tok123"), "tok123.thumbprint");
  for (const host of [TRACK, SHOP]) {
    const out = execFileSync("curl", ["-s", "-w", "\n%{http_code}", "--resolve", `${host}:${httpPort}:127.0.0.1`,
      `http://${host}:${httpPort}/.well-known/acme-challenge/tok123`], { encoding: "utf8" });
    assert.equal(out, "tok123.thumbprint\n200", host);
    const redirect = execFileSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
      "--resolve", `${host}:${httpPort}:127.0.0.1`, `http://${host}:${httpPort}/?aff=alice`], { encoding: "utf8" });
    assert.match(redirect, new RegExp(`^301 https://${host.replaceAll(".", "\\.")}/\\?aff=alice`), host);
  }
});

test("the first-party path reaches the tracker only; /metrics answers the local operator only", skip, () => {
  const shop = `https://${SHOP}:${port}/_ct`;
  assert.equal(curl("GET", `${shop}/tracking.js`).status, 200);
  assert.equal(curl("OPTIONS", `${shop}/tracking/click/v1`,
    { origin: `https://${SHOP}:${port}`, "access-control-request-method": "POST" }).status, 204);
  for (const [method, path, headers] of [
    ["GET", "/metrics"],
    ["GET", "/dashboard"],
    ["GET", "/dashboard.js"],
    ["GET", "/api/v1/report", { authorization: `Bearer ${API_KEY}` }],
    ["GET", "/api/v1/affiliates", { authorization: "Bearer demo_admin_key" }],
    ["POST", "/api/v1/keys", { authorization: "Bearer demo_admin_key" }],
    ["POST", "/webhooks/stripe"],
    ["GET", "/portal.js"],
    ["GET", "/healthz"],
    ["GET", "/"],
  ]) {
    const r = curl(method, `${shop}${path}`, headers);
    assert.equal(r.status, 404, `${method} /_ct${path} on the shop: ${r.status} ${r.text}`);
  }
  // the collector's own host: the admin API answers there
  assert.equal(curl("GET", `https://${TRACK}:${port}/api/v1/affiliates`,
    { authorization: "Bearer demo_admin_key" }).status, 200);
  // /metrics: nginx lets the local operator through and the collector, trusting nginx, sees
  // 127.0.0.1 (inside the default metrics_allow)
  const m = curl("GET", `https://${TRACK}:${port}/metrics`);
  assert.equal(m.status, 200, m.text);
  assert.match(m.text, /clicktrail_build_info\{version="[^"]+"\} 1/);
  // a client that names another address in X-Forwarded-For is that address to the collector:
  // refused even though nginx let the local connection through
  assert.equal(curl("GET", `https://${TRACK}:${port}/metrics`, { "x-forwarded-for": "203.0.113.7" }).status, 403);
});
