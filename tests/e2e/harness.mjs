// End-to-end harness: the real collector binary on a free loopback port with a
// temp SQLite file, and the real Debian Chromium driven by playwright-core.
// Tests assert on what the collector stored (its report API or the SQLite file).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { before, after } from "node:test";
import { chromium } from "playwright-core";

export const ROOT = resolve(import.meta.dirname, "../..");
export const API_KEY = "demo_secret_key";
export const TENANT = "demo";
export const REVENUE_ORIGIN = "00000000-0000-0000-0000-000000000001";
// The debug build for tests; the benchmark sets COLLECTOR_PROFILE=release.
// (resolve, not join: CARGO_TARGET_DIR may be an absolute path)
const BINARY = resolve(ROOT, process.env.CARGO_TARGET_DIR || "target", process.env.COLLECTOR_PROFILE || "debug",
  "clicktrail-collector");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/** A loopback port nobody listens on right now. */
export function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** A collector on `port` (default: a free one) over `db` (default: a new temp file). */
export class Collector {
  constructor({ port, db, www = join(ROOT, "www"), extraArgs = [] } = {}) {
    this.port = port;
    this.dir = db ? null : mkdtempSync(join(tmpdir(), "clicktrail-e2e-"));
    this.db = db || join(this.dir, "clicktrail.db");
    this.www = www;
    this.extraArgs = extraArgs;
    this.log = "";
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!existsSync(BINARY)) throw new Error(`${BINARY} missing: run cargo build -p clicktrail-collector`);
    this.port ??= await freePort();
    this.child = spawn(
      BINARY,
      ["serve", "--demo", "--db", this.db, "--listen", `127.0.0.1:${this.port}`,
        "--dist", join(ROOT, "dist"), "--www", this.www, ...this.extraArgs],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } },
    );
    this.child.stdout.on("data", (d) => (this.log += d));
    this.child.stderr.on("data", (d) => (this.log += d));
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`collector exited: ${this.log}`);
      try {
        const res = await fetch(`${this.origin}/tracking.js`);
        if (res.ok) return this;
      } catch {
        /* not listening yet */
      }
      await sleep(50);
    }
    throw new Error(`collector did not start: ${this.log}`);
  }

  /** SIGKILL: no graceful shutdown, as a crash or an OOM kill would. */
  async kill() {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((ok) => this.child.once("exit", ok));
    this.child.kill("SIGKILL");
    await exited;
  }

  async stop() {
    await this.kill();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** GET /api/v1/report for today (UTC) with the demo API key. */
  async report() {
    const today = new Date().toISOString().slice(0, 10);
    const res = await fetch(`${this.origin}/api/v1/report?from=${today}&to=${today}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    if (!res.ok) throw new Error(`report: ${res.status} ${await res.text()}`);
    return res.json();
  }

  /** The report row of one affiliate (zeros when it has none). */
  async affiliate(code) {
    const report = await this.report();
    const row = report.affiliates.find((a) => a.affiliate === code);
    return row || { affiliate: code, clicks: 0, leads: 0, conversions: 0, revenueCents: 0, commissionCents: 0 };
  }

  /** Runs one read-only SQL query on the collector's SQLite file (WAL-safe). */
  sql(query) {
    const out = execFileSync("python3", ["-c", SQL_PY, this.db, query], { encoding: "utf8" });
    return JSON.parse(out);
  }
}

const SQL_PY = `
import json, sqlite3, sys
con = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
con.row_factory = sqlite3.Row
print(json.dumps([dict(r) for r in con.execute(sys.argv[2])]))
`;

export function sleep(ms) {
  return new Promise((ok) => setTimeout(ok, ms));
}

/** Polls `probe` until it returns a truthy value (or throws after `ms`). */
export async function eventually(probe, ms = 8000, what = "condition") {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}; last: ${last && (last.stack || JSON.stringify(last))}`);
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/**
 * A new page that records console errors and uncaught page exceptions, which the
 * tracker must never cause.
 */
export async function newPage(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.consoleErrors = [];
  page.pageErrors = [];
  page.on("console", (m) => m.type() === "error" && page.consoleErrors.push(m.text()));
  page.on("pageerror", (e) => page.pageErrors.push(String(e)));
  return page;
}

/** Serves `html` for `path` on the collector's origin, as a merchant page would be. */
export async function servePage(page, collector, path, html, headers = {}) {
  await page.route(
    (url) => url.origin === collector.origin && url.pathname === path,
    (route) => route.fulfill({ status: 200, contentType: "text/html", headers, body: html }),
  );
}

/** The Trackdesk install snippet of SPEC §2, with only `src` changed. */
export function trackdeskSnippet(src = "/tracking.js", attrs = "", tenant = TENANT) {
  return `<script async src="${src}" ${attrs}></script>
<script>
(function(t,d,k){(t[k]=t[k]||[]).push(d);t[d]=t[d]||t[k].f||function(){(t[d].q=t[d].q||[]).push(arguments)}})(window,"trackdesk","TrackdeskObject");
trackdesk("${tenant}", "click", {}, function (r) { window.__clickResult = r; window.__clickCalls = (window.__clickCalls || 0) + 1; });
</script>`;
}

/** The raw value of cookie `name` as the page sees it. */
export async function cookieValue(page, name) {
  return page.evaluate((n) => {
    const hit = document.cookie.split("; ").find((c) => c.startsWith(n + "="));
    return hit ? hit.slice(n.length + 1) : null;
  }, name);
}

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * For a test file: one collector (demo tenant, temp SQLite) and one Chromium, started
 * before its tests and stopped after them. The returned object is filled in `before`.
 */
export function collectorAndBrowser() {
  const env = {};
  before(async () => {
    env.collector = await new Collector().start();
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.collector?.stop();
  });
  return env;
}
