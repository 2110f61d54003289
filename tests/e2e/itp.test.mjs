// Safari's ITP caps cookies written by script (document.cookie) to 7 days; a cookie set by
// the server's Set-Cookie keeps its Max-Age. Measured in WebKitGTK's MiniBrowser with
// --enable-itp, outside WebDriver (ITP is off in automation sessions), with its own profile
// (HOME/XDG dirs) and a persistent --cookies-file, whose sqlite rows give each cookie's
// real expiry:
//   first-party mode   tracker at /_ct/tracking.js on the page's origin: the click answer's
//                      Set-Cookie replaces the script's cookie -> ~60 days
//   script only        collector on another site (127.0.0.2): only the script writes the
//                      cookie -> capped to 7 days (the control: ITP is really on)
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Collector, Site, ENGINES, MINIBROWSER, trackdeskSnippet, eventually, sleep, startXvfb, stopChild, UUID_V4,
} from "./harness.mjs";

const DAY = 86400;
const SKIP = !ENGINES.includes("webkit")
  ? "WebKit not selected (E2E_ENGINES)"
  : !existsSync(MINIBROWSER) ? `${MINIBROWSER} missing: run bash scripts/setup.sh (webkit2gtk-driver)` : false;

/** Runs MiniBrowser with ITP on `url` until `done()` holds, then returns trakdesk_cid's row. */
async function visitWithItp(display, url, done) {
  const dir = mkdtempSync(join(tmpdir(), "clicktrail-itp-"));
  const db = join(dir, "cookies.sqlite");
  const env = {
    ...process.env, DISPLAY: `:${display}`, HOME: dir,
    XDG_DATA_HOME: join(dir, "data"), XDG_CACHE_HOME: join(dir, "cache"), XDG_CONFIG_HOME: join(dir, "config"),
  };
  const browser = spawn(MINIBROWSER, ["--enable-itp", `--cookies-file=${db}`, url], { env, stdio: "ignore" });
  try {
    await eventually(done, 20000, `tracker done in MiniBrowser (${url})`);
    await sleep(1000); // the answer's Set-Cookie, if any, lands right after
  } finally {
    await stopChild(browser);
  }
  try {
    const rows = JSON.parse(execFileSync("python3", ["-c", `
import json, sqlite3, sys, time
con = sqlite3.connect(sys.argv[1])
rows = con.execute("select name, value, host, path, expiry from moz_cookies").fetchall()
print(json.dumps({"now": time.time(), "rows": rows}))`, db], { encoding: "utf8" }));
    const byName = Object.fromEntries(rows.rows.map(([name, value, host, path, expiry]) =>
      [name, { value, host, path, expiry, days: (expiry - rows.now) / DAY }]));
    return byName;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("webkit ITP (MiniBrowser --enable-itp, outside WebDriver)", { skip: SKIP }, () => {
  let xvfb, collector, fp, other, page;
  before(async () => {
    xvfb = await startXvfb();
    collector = await new Collector().start();
    fp = await new Site({ upstream: collector, prefix: "/_ct" }).start();
  });
  after(async () => {
    await stopChild(xvfb);
    await fp?.stop();
    await other?.stop();
    await page?.stop();
    await collector?.stop();
  });

  test("script only (collector on another site): ITP caps trakdesk_cid to 7 days", async () => {
    // the control: the page on 127.0.0.1, the collector straight on 127.0.0.2 (another site)
    other = await new Collector({ host: "127.0.0.2" }).start();
    page = await new Site({ proxy: false }).start();
    const url = page.page("/itp-script", `<!doctype html><title>itp</title>${trackdeskSnippet(`${other.origin}/tracking.js`)}`);
    const cookies = await visitWithItp(xvfb.display, `${url}?aff=alice`,
      async () => (await other.affiliate("alice")).clicks === 1);
    const cid = cookies.trakdesk_cid;
    assert.ok(cid, `trakdesk_cid in the cookie database: ${JSON.stringify(cookies)}`);
    assert.match(JSON.parse(cid.value).cid, UUID_V4);
    assert.ok(cid.days > 6.9 && cid.days <= 7.01, `script-written cookie capped to 7 days by ITP: ${cid.days.toFixed(2)} days`);
  });

  test("first-party mode: the click answer's Set-Cookie keeps trakdesk_cid for ~60 days", async () => {
    const url = fp.page("/itp-fp", `<!doctype html><title>itp</title>${trackdeskSnippet("/_ct/tracking.js")}`);
    const mark = fp.mark();
    const cookies = await visitWithItp(xvfb.display, `${url}?aff=bob`,
      // the click answered, wherever the tracker sent it (a wrong endpoint is a 404 here)
      async () => fp.requestsSince(mark).some((r) => r.path.endsWith("/tracking/click/v1") && r.status));
    const cid = cookies.trakdesk_cid;
    assert.ok(cid, `trakdesk_cid in the cookie database: ${JSON.stringify(cookies)}`);
    assert.match(JSON.parse(cid.value).cid, UUID_V4);
    const sent = fp.requestsSince(mark).filter((r) => r.method === "POST").map((r) => `${r.path} ${r.status}`);
    assert.ok(cid.days > 59 && cid.days <= 60.01,
      `first-party cookie should keep its 60 days (server Set-Cookie); it expires in ${cid.days.toFixed(2)} days. ` +
      `Requests the page's origin saw: ${sent.join(", ")}`);
  });
});
