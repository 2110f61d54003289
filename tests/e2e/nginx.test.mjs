// Behind a real reverse proxy: Debian's nginx runs the repository's own
// deploy/nginx/collector.conf (names, ports and certificate paths substituted) in front of
// the real collector, with TLS terminated by nginx (a self-signed certificate made here with
// openssl), and Chromium drives the funnel through it: the merchant's first-party path
// /_ct/ (the collector's Set-Cookie arrives through the proxy), the collector's own host,
// a lead, a signed Stripe webhook and the report — all over https through nginx.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, existsSync, chmodSync } from "node:fs";
import { createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ROOT, Collector, freePort, eventually, sleep, stopChild, trackdeskSnippet, API_KEY, UUID_V4 } from "./harness.mjs";

const NGINX = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].find((p) => existsSync(p));
const SHOP = "shop.example.com";
const TRACK = "track.example.com";
const DAY = 86400;

let dir, collector, nginx, browser, port;

before(async () => {
  if (!NGINX) return;
  dir = mkdtempSync(join(tmpdir(), "clicktrail-nginx-"));
  chmodSync(dir, 0o755); // nginx's workers (not root) read the shop's pages from here
  collector = await new Collector().start();
  port = await freePort();
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
    .replaceAll("127.0.0.1:8080", `127.0.0.1:${collector.port}`)
    .replaceAll("listen 443 ssl http2;", `listen 127.0.0.1:${port} ssl http2;`)
    .replaceAll("listen 80;", `listen 127.0.0.1:${await freePort()};`)
    .replaceAll("/etc/ssl/clicktrail/", `${dir}/ssl/`)
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
  await eventually(async () => {
    try {
      execFileSync("curl", ["-sk", "-o", "/dev/null", "--resolve", `${TRACK}:${port}:127.0.0.1`,
        `https://${TRACK}:${port}/healthz`]);
      return true;
    } catch {
      return false;
    }
  }, 10000, "nginx answering");
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
  await collector?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

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
  // /metrics stays internal: allowed from 127.0.0.1 only (this test is local, so it answers)
  assert.equal(curl("GET", `https://${TRACK}:${port}/metrics`).status, 200);
  assert.deepEqual(errors, []);
  await sleep(100);
});
