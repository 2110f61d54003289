// End-to-end harness: the real collector binary on a free loopback port with a temp
// SQLite file, a small Node "merchant site" in front of it, and three real browser
// engines behind one page API:
//   chromium  Debian chromium, driven by playwright-core (CDP)
//   firefox   Debian firefox-esr, driven by puppeteer-core over WebDriver BiDi
//   webkit    WebKitGTK's MiniBrowser through WebKitWebDriver (selenium-webdriver), under Xvfb
// Every test file runs its cases once per engine (E2E_ENGINES=chromium,firefox picks some).
// Tests assert on what the collector stored (its report API or the SQLite file).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, readFileSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, test, before, after, afterEach } from "node:test";
import { chromium } from "playwright-core";

export const ROOT = resolve(import.meta.dirname, "../..");

/** The build id of the full module a Trackdesk page gets: the "ct" custom section that ends
 * dist/clicktrail_bg.wasm (scripts/edge-files.mjs). */
export function buildId() {
  const id = readFileSync(join(ROOT, "dist/clicktrail_bg.wasm")).subarray(-8).toString("latin1");
  if (!/^[0-9a-f]{8}$/.test(id)) throw new Error("dist/clicktrail_bg.wasm has no build id: run npm run build");
  return id;
}

/** The content-hashed name of that full module (`clicktrail_bg.<id>.wasm`). */
export function wasmFile() {
  return `clicktrail_bg.${buildId()}.wasm`;
}
export const API_KEY = "demo_secret_key";
export const TENANT = "demo";
export const REVENUE_ORIGIN = "00000000-0000-0000-0000-000000000001";
// The debug build for tests; the benchmark sets COLLECTOR_PROFILE=release.
// (resolve, not join: CARGO_TARGET_DIR may be an absolute path)
const BINARY = resolve(ROOT, process.env.CARGO_TARGET_DIR || "target", process.env.COLLECTOR_PROFILE || "debug",
  "clicktrail-collector");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";
export const MINIBROWSER = process.env.MINIBROWSER || "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
export const ALL_ENGINES = ["chromium", "firefox", "webkit"];
export const ENGINES = (process.env.E2E_ENGINES || ALL_ENGINES.join(","))
  .split(",").map((e) => e.trim()).filter(Boolean);
for (const e of ENGINES) if (!ALL_ENGINES.includes(e)) throw new Error(`E2E_ENGINES: unknown engine ${e}`);

/** A loopback port nobody listens on right now. */
export function freePort(host = "127.0.0.1") {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** A collector on `port` (default: a free one) over `db` (default: a new temp file), with the
 * demo tenant or the tenants of a `config` file (TOML). */
export class Collector {
  constructor({ port, db, host = "127.0.0.1", www = join(ROOT, "www"), extraArgs = [], config } = {}) {
    this.source = config ? ["--config", config] : ["--demo"];
    this.port = port;
    this.host = host;
    this.dir = db ? null : mkdtempSync(join(tmpdir(), "clicktrail-e2e-"));
    this.db = db || join(this.dir, "clicktrail.db");
    this.www = www;
    this.extraArgs = extraArgs;
    this.log = "";
  }

  get origin() {
    return `http://${this.host}:${this.port}`;
  }

  async start() {
    if (!existsSync(BINARY)) throw new Error(`${BINARY} missing: run cargo build -p clicktrail-collector`);
    this.port ??= await freePort(this.host);
    this.child = spawn(
      BINARY,
      ["serve", ...this.source, "--db", this.db, "--listen", `${this.host}:${this.port}`,
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

// Installed at the very start of every HTML document the Site serves to WebKit, whose
// WebDriver has no console or page-error events: uncaught errors, unhandled rejections and
// console.error calls are kept on the window for the harness to read.
const ERROR_HOOK = `<script>(function(w){if(w.__e2eErrors)return;var E=w.__e2eErrors=[],C=w.__e2eConsole=[];
w.addEventListener("error",function(e){if(e instanceof ErrorEvent)E.push(String(e.error||e.message))},true);
w.addEventListener("unhandledrejection",function(e){E.push("unhandled rejection: "+String(e.reason))});
var ce=console.error;console.error=function(){try{C.push([].map.call(arguments,function(a){return String(a)}).join(" "))}catch(_){}return ce.apply(this,arguments)};})(window)</script>`;

function injectHook(html) {
  const doctype = /^\s*<!doctype[^>]*>/i.exec(html);
  return doctype ? doctype[0] + ERROR_HOOK + html.slice(doctype[0].length) : ERROR_HOOK + html;
}

/**
 * The merchant's site: a Node HTTP server that serves the pages a test registers and
 * reverse-proxies the rest to the collector, as a merchant's own server (or a CDN in
 * front of the collector) would. With `prefix` ("/_ct") only that folder is proxied, with
 * the prefix stripped (first-party mode); with `proxy: false` nothing is.
 * Every request is logged, so tests can see what the browser asked for.
 */
export class Site {
  constructor({ upstream, host = "127.0.0.1", prefix = "", proxy = true, rename = {} } = {}) {
    this.upstream = upstream;
    this.host = host;
    this.prefix = prefix;
    this.proxy = proxy;
    this.rename = rename; // upstream path -> path asked for it (after the prefix), e.g. {"/ct.js": "/tracking.js"}
    this.pages = new Map();
    this.overrides = new Map();
    this.failures = new Map();
    this.requests = [];
    this.hook = false;
  }

  get origin() {
    return `http://${this.host}:${this.port}`;
  }

  /** Serves `html` (with extra response `headers`) at `path`. */
  page(path, html, headers = {}) {
    this.pages.set(path, { html, headers });
    return `${this.origin}${path}`;
  }

  /** Replaces response headers of a proxied path (pathname as the browser asks for it). */
  override(path, headers) {
    this.overrides.set(path, headers);
    return () => this.overrides.delete(path);
  }

  /** The next `count` requests for `path` are answered `status` without reaching the collector. */
  failNext(path, count = 1, status = 503) {
    this.failures.set(path, { count, status });
  }

  /** A mark for `requestsSince`. */
  mark() {
    return this.requests.length;
  }

  requestsSince(mark = 0) {
    return this.requests.slice(mark);
  }

  async start() {
    this.port ??= await freePort(this.host);
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise((ok, fail) => {
      this.server.once("error", fail);
      this.server.listen(this.port, this.host, ok);
    });
    return this;
  }

  async stop() {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise((ok) => this.server.close(ok));
    this.server = null;
  }

  handle(req, res) {
    const url = new URL(req.url, this.origin);
    const entry = { method: req.method, path: url.pathname, url: url.href, at: Date.now(), headers: req.headers };
    this.requests.push(entry);
    if (req.method === "POST") {
      // Kept for tests (bodies are small JSON); the proxy still streams the request.
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => (entry.body = Buffer.concat(chunks).toString("utf8")));
    }
    const page = this.pages.get(url.pathname);
    if (page && req.method === "GET") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...page.headers });
      res.end(this.hook ? injectHook(page.html) : page.html);
      return;
    }
    if (url.pathname === "/__e2e/blank") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end("<!doctype html><title>blank</title>");
      return;
    }
    let path = url.pathname;
    if (this.prefix) {
      if (!path.startsWith(this.prefix + "/")) return notFound(res, entry);
      path = path.slice(this.prefix.length);
    } else if (!this.proxy) {
      return notFound(res, entry);
    }
    const failure = this.failures.get(url.pathname);
    if (failure && failure.count > 0) {
      failure.count -= 1;
      entry.status = failure.status;
      res.writeHead(failure.status, { "content-type": "application/json", "access-control-allow-origin": "*" });
      res.end(JSON.stringify({ error: { code: "unavailable", message: "test: failed on purpose" } }));
      return;
    }
    path = this.rename[path] || path;
    this.forward(req, res, path + url.search, url.pathname, entry);
  }

  forward(req, res, target, asked, entry) {
    const headers = { ...req.headers, "x-forwarded-host": req.headers.host, "x-forwarded-proto": "http" };
    const wantsHtml = this.hook && /text\/html/.test(req.headers.accept || "");
    if (wantsHtml) delete headers["accept-encoding"]; // so the hook can be injected
    const upstream = http.request(
      { host: this.upstream.host, port: this.upstream.port, method: req.method, path: target, headers },
      (up) => {
        const out = { ...up.headers, ...(this.overrides.get(asked) || {}) };
        entry.status = up.statusCode;
        entry.responseHeaders = out;
        if (wantsHtml && /text\/html/.test(up.headers["content-type"] || "")) {
          const chunks = [];
          up.on("data", (c) => chunks.push(c));
          up.on("end", () => {
            const body = injectHook(Buffer.concat(chunks).toString("utf8"));
            delete out["content-length"];
            res.writeHead(up.statusCode, out);
            res.end(body);
          });
          return;
        }
        res.writeHead(up.statusCode, out);
        up.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end("upstream down");
    });
    req.pipe(upstream);
  }
}

function notFound(res, entry) {
  if (entry) entry.status = 404;
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found");
}

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

// ---------------------------------------------------------------------------------------
// Engines

const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage",
];

/** Playwright's Chromium (kept for the benchmark, which needs CDP). */
export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** `fn` (a function or its source) applied to `arg`, as one expression whose value is
 * JSON text: the three drivers then return the same thing (undefined stays undefined). */
function expression(fn, arg) {
  const a = arg === undefined ? "undefined" : JSON.stringify(arg);
  return `(async () => { const v = await (${fn})(${a}); return JSON.stringify({ v }) ?? "{}"; })()`;
}

/** What every engine's page offers; subclasses provide the driver calls. */
class BasePage {
  constructor(engine) {
    this.engine = engine;
    this.name = engine.name;
  }

  async evaluate(fn, arg) {
    const text = await this.rawEvaluate(expression(fn, arg));
    return JSON.parse(text).v;
  }

  async waitForFunction(fn, arg, ms = 8000) {
    return eventually(() => this.evaluate(fn, arg), ms, `page function ${String(fn).slice(0, 80)}`);
  }

  waitForTimeout(ms) {
    return sleep(ms);
  }

  /** The raw value of cookie `name` as the page sees it (document.cookie). */
  cookieValue(name) {
    return this.evaluate((n) => {
      const hit = document.cookie.split("; ").find((c) => c.startsWith(n + "="));
      return hit ? hit.slice(n.length + 1) : null;
    }, name);
  }

  /** Writes a cookie for `origin` as page script would, before the test's first visit. */
  async setCookie(origin, name, value) {
    await this.goto(`${origin}/__e2e/blank`);
    const seen = await this.evaluate(([n, v]) => {
      document.cookie = `${n}=${v}; path=/; max-age=3600`;
      const hit = document.cookie.split("; ").find((c) => c.startsWith(n + "="));
      return hit ? hit.slice(n.length + 1) : null;
    }, [name, value]);
    if (seen !== value) throw new Error(`${this.name} did not keep cookie ${name}=${value} (read back ${seen})`);
  }

  waitForSelector(selector, ms = 8000) {
    return eventually(() => this.evaluate((s) => !!document.querySelector(s), selector), ms, `selector ${selector}`);
  }

  async fill(selector, value) {
    await this.waitForSelector(selector);
    await this.evaluate(([s, v]) => {
      const el = document.querySelector(s);
      el.focus();
      el.value = v;
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
    }, [selector, value]);
  }

  async click(selector) {
    await this.waitForSelector(selector);
    await this.evaluate((s) => {
      document.querySelector(s).click();
    }, selector);
  }

  getAttribute(selector, name) {
    return this.evaluate(([s, n]) => {
      const el = document.querySelector(s);
      return el ? el.getAttribute(n) : null;
    }, [selector, name]);
  }

  inputValue(selector) {
    return this.evaluate((s) => document.querySelector(s).value, selector);
  }

  textContent(selector) {
    return this.evaluate((s) => document.querySelector(s).textContent, selector);
  }
}

class ChromiumPage extends BasePage {
  static async create(engine) {
    const page = new ChromiumPage(engine);
    page.context = await engine.browser.newContext();
    page.page = await page.context.newPage();
    page.console = [];
    page.errors = [];
    page.page.on("console", (m) => m.type() === "error" && page.console.push(m.text()));
    page.page.on("pageerror", (e) => page.errors.push(String(e)));
    return page;
  }

  goto(url) {
    return this.page.goto(url);
  }

  reload() {
    return this.page.reload();
  }

  rawEvaluate(expr) {
    return this.page.evaluate(expr);
  }

  async consoleErrors() {
    return [...this.console];
  }

  async pageErrors() {
    return [...this.errors];
  }

  /** Cookies of `url` with their expiry in seconds since the epoch (-1: session). */
  async cookies(url) {
    return (await this.context.cookies(url)).map((c) => ({ name: c.name, value: c.value, expires: c.expires,
      domain: c.domain, path: c.path, sameSite: c.sameSite, httpOnly: c.httpOnly, secure: c.secure }));
  }

  /** Leaves the page as a visitor closing the tab does (pagehide runs). */
  async leave() {
    if (!this.page.isClosed()) await this.page.close({ runBeforeUnload: true });
  }

  async close() {
    await this.leave().catch(() => {});
    await this.context.close().catch(() => {});
  }
}

class FirefoxPage extends BasePage {
  static async create(engine) {
    const page = new FirefoxPage(engine);
    page.context = await engine.browser.createBrowserContext();
    page.page = await page.context.newPage();
    page.console = [];
    page.errors = [];
    page.page.on("console", (m) => m.type() === "error" && page.console.push(m.text()));
    // Firefox reports a CSP violation as a JavaScript log entry, which puppeteer turns into
    // "pageerror"; it is the browser's console report (Chromium's is a console error), not
    // an exception thrown into the page.
    page.page.on("pageerror", (e) => {
      const text = String(e);
      if (/^(Error: )?Content-Security-Policy: /.test(text)) page.console.push(text);
      else page.errors.push(text);
    });
    return page;
  }

  goto(url) {
    return this.page.goto(url, { waitUntil: "load" });
  }

  reload() {
    return this.page.reload({ waitUntil: "load" });
  }

  rawEvaluate(expr) {
    return this.page.evaluate(expr);
  }

  async consoleErrors() {
    return [...this.console];
  }

  async pageErrors() {
    return [...this.errors];
  }

  async cookies(url) {
    return (await this.page.cookies(url)).map((c) => ({ name: c.name, value: c.value, expires: c.expires,
      domain: c.domain, path: c.path, sameSite: c.sameSite, httpOnly: c.httpOnly, secure: c.secure }));
  }

  async leave() {
    if (!this.page.isClosed()) await this.page.close({ runBeforeUnload: true });
  }

  async close() {
    await this.leave().catch(() => {});
    await this.context.close().catch(() => {});
  }
}

class WebKitPage extends BasePage {
  static async create(engine) {
    const { Builder } = await import("selenium-webdriver");
    const page = new WebKitPage(engine);
    page.driver = await new Builder().usingServer(engine.driverUrl).withCapabilities({
      browserName: "MiniBrowser",
      "webkitgtk:browserOptions": { binary: MINIBROWSER, args: ["--automation"] },
    }).build();
    await page.driver.manage().setTimeouts({ script: 30000, pageLoad: 30000 });
    page.pastErrors = [];
    page.pastConsole = [];
    return page;
  }

  /** Keeps the errors the hook saw on the document about to be left. */
  async collect() {
    try {
      const seen = JSON.parse(await this.driver.executeScript(
        "return JSON.stringify([window.__e2eErrors || [], window.__e2eConsole || []])"));
      this.pastErrors.push(...seen[0]);
      this.pastConsole.push(...seen[1]);
    } catch {
      /* no document yet */
    }
  }

  async current() {
    try {
      return JSON.parse(await this.driver.executeScript(
        "return JSON.stringify([window.__e2eErrors || [], window.__e2eConsole || []])"));
    } catch {
      return [[], []];
    }
  }

  async goto(url) {
    await this.collect();
    await this.driver.get(url);
  }

  async reload() {
    await this.collect();
    await this.driver.navigate().refresh();
  }

  rawEvaluate(expr) {
    return this.driver.executeScript(`return ${expr}`);
  }

  async consoleErrors() {
    return [...this.pastConsole, ...(await this.current())[1]];
  }

  async pageErrors() {
    return [...this.pastErrors, ...(await this.current())[0]];
  }

  async cookies() {
    return (await this.driver.manage().getCookies()).map((c) => ({ name: c.name, value: c.value,
      expires: c.expiry ?? -1, domain: c.domain, path: c.path, sameSite: c.sameSite, httpOnly: c.httpOnly,
      secure: c.secure }));
  }

  async leave() {
    if (this.left) return;
    this.left = true;
    await this.collect();
    await this.driver.get("about:blank");
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    await this.driver.quit().catch(() => {});
  }
}

class Engine {
  constructor(name) {
    this.name = name;
    this.pages = new Set();
  }

  async start() {
    if (this.name === "chromium") {
      this.browser = await launchBrowser();
    } else if (this.name === "firefox") {
      const { default: puppeteer } = await import("puppeteer-core");
      this.browser = await puppeteer.launch({ browser: "firefox", executablePath: FIREFOX, headless: true });
    } else {
      await this.startWebKitDriver();
    }
    return this;
  }

  /** Xvfb on a display it picks itself, and WebKitWebDriver on a free port. */
  async startWebKitDriver() {
    for (const bin of ["Xvfb", "WebKitWebDriver", MINIBROWSER]) {
      try {
        execFileSync("sh", ["-c", `command -v "${bin}"`], { stdio: "ignore" });
      } catch {
        throw new Error(`${bin} missing: run bash scripts/setup.sh (Debian xvfb, webkit2gtk-driver)`);
      }
    }
    this.xvfb = await startXvfb();
    const display = this.xvfb.display;
    this.display = `:${display}`;
    const port = await freePort();
    this.driverUrl = `http://127.0.0.1:${port}`;
    this.driver = spawn("WebKitWebDriver", [`--port=${port}`, "--host=127.0.0.1"],
      { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, DISPLAY: this.display } });
    let dlog = "";
    this.driver.stderr.on("data", (d) => (dlog += d));
    await eventually(async () => {
      if (this.driver.exitCode !== null) throw new Error(`WebKitWebDriver exited: ${dlog}`);
      return (await fetch(`${this.driverUrl}/status`)).ok;
    }, 15000, "WebKitWebDriver");
  }

  /** A new page in a new context; in WebKit the `sites` inject the error hook. */
  async newPage(...sites) {
    const Page = { chromium: ChromiumPage, firefox: FirefoxPage, webkit: WebKitPage }[this.name];
    const page = await Page.create(this);
    this.pages.add(page);
    if (this.name === "webkit") for (const site of sites) if (site) site.hook = true;
    return page;
  }

  async closePages() {
    const pages = [...this.pages];
    this.pages.clear();
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
  }

  async stop() {
    await this.closePages();
    await this.browser?.close().catch(() => {});
    for (const child of [this.driver, this.xvfb]) await stopChild(child);
  }
}

/** An Xvfb server on a display it picks itself (-displayfd); `.display` is its number. */
export async function startXvfb() {
  const xvfb = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
    { stdio: ["ignore", "ignore", "pipe", "pipe"] });
  let xlog = "";
  xvfb.stderr.on("data", (d) => (xlog += d));
  xvfb.display = await Promise.race([
    new Promise((ok) => xvfb.stdio[3].once("data", (d) => ok(String(d).trim()))),
    new Promise((_, fail) => xvfb.once("exit", () => fail(new Error(`Xvfb exited: ${xlog}`)))),
    sleep(15000).then(() => { throw new Error(`Xvfb gave no display: ${xlog}`); }),
  ]);
  return xvfb;
}

/** Stops a child process (SIGTERM, then SIGKILL after 3 s). */
export async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once("exit", ok));
  child.kill("SIGTERM");
  await Promise.race([exited, sleep(3000).then(() => child.kill("SIGKILL"))]);
}

/** One engine, started by the caller (the benchmark and the special tests use it). */
export async function startEngine(name) {
  return new Engine(name).start();
}

/**
 * Registers a test file's cases once per engine: `fn(env)` is called inside a
 * describe(engine) block, where `env` has a fresh collector (demo tenant, temp SQLite),
 * the merchant `site` in front of it, and `newPage()` (a new browser context each, closed
 * after the test). `env.test(name, { skip: { webkit: "why" } }, fn)` skips a case in one
 * engine with its reason in the output.
 */
export function engines(fn, { collector = true } = {}) {
  for (const name of ENGINES) {
    describe(name, () => {
      const env = {
        engine: name,
        async newPage(...sites) {
          return env.browser.newPage(env.site, ...sites);
        },
        test(title, opts, body) {
          if (typeof opts === "function") [opts, body] = [{}, opts];
          const skip = opts.skip && opts.skip[name];
          test(title, skip ? { skip } : {}, body);
        },
      };
      before(async () => {
        if (collector) {
          env.collector = await new Collector().start();
          env.site = await new Site({ upstream: env.collector }).start();
        }
        env.browser = await startEngine(name);
      });
      afterEach(async () => {
        await env.browser?.closePages();
      });
      after(async () => {
        await env.browser?.stop();
        await env.site?.stop();
        await env.collector?.stop();
      });
      fn(env);
    });
  }
}

/** Trackdesk's install snippet, with only `src` changed. */
export function trackdeskSnippet(src = "/tracking.js", attrs = "", tenant = TENANT) {
  return `<script async src="${src}" ${attrs}></script>
<script>
(function(t,d,k){(t[k]=t[k]||[]).push(d);t[d]=t[d]||t[k].f||function(){(t[d].q=t[d].q||[]).push(arguments)}})(window,"trackdesk","TrackdeskObject");
trackdesk("${tenant}", "click", {}, function (r) { window.__clickResult = r; window.__clickCalls = (window.__clickCalls || 0) + 1; });
</script>`;
}

/** The raw value of cookie `name` as the page sees it. */
export function cookieValue(page, name) {
  return page.cookieValue(name);
}

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Test data kept in the repository (`tests/fixtures/`, sources and licences in its SOURCES.md). */
export const FIXTURES = resolve(ROOT, "tests", "fixtures");

/** Debian's uBlock Origin for Firefox (`webext-ublock-origin-firefox`, installed by
 * scripts/setup.sh): the extension, and the filter lists it ships under `assets/`. */
export const UBLOCK_ORIGIN =
  "/usr/share/mozilla/extensions/{ec8030f7-c20a-464f-9b0e-13a3a9e97384}/uBlock0@raymondhill.net";
