// The two modules (docs/tracker.md, "Two modules"): the click module (inlined in tracking.js)
// writes the cookie, the click's outbox entry and its POST; the full module, added after the
// cookie by the second script, adopts that POST: a click the collector did not acknowledge is
// re-sent with the same event id, and exactly one click is stored. Runs dist/ (npm run build)
// served by the test site, so a test can fail one of its files.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { join } from "node:path";
import { engines, trackdeskSnippet, eventually, sleep, ROOT, UUID_V4, buildId, Collector } from "./harness.mjs";

const DIST = join(ROOT, "dist");
// the second script (the full module's glue) as tracking.js adds it on a Trackdesk page, and
// the full module's wasm: both named by the full module's build id; the click module by its
// own hash
const ID = buildId();
const SIZE = join(ROOT, "target/size");
const FULL_JS = `clicktrail_full.${ID}.js`;
const FULL = `clicktrail_bg.${ID}.wasm`;
const CLICK = "/tracking/click/v1";
const CONVERSION = "/tracking/conversion/v1";

/** Serves dist/ beside the page: /cf/tracking.js, the second script it adds and the full module
 * that one fetches (as files: the site's pages get WebKit's error hook injected). */
function serve(site) {
  if (site.clickFirst) return;
  site.clickFirst = {
    "/cf/tracking.js": ["application/javascript", readFileSync(join(DIST, "tracking.js"))],
    [`/cf/${FULL_JS}`]: ["application/javascript", readFileSync(join(DIST, FULL_JS))],
    [`/cf/${FULL}`]: ["application/wasm", readFileSync(join(DIST, FULL))],
  };
  const handle = site.handle.bind(site);
  site.handle = (req, res) => {
    const url = new URL(req.url, site.origin);
    const file = site.clickFirst[url.pathname];
    // a failure asked with `site.failNext` is the site's to answer
    if (!file || req.method !== "GET" || site.failures.get(url.pathname)?.count) return handle(req, res);
    site.requests.push({ method: req.method, path: url.pathname, url: url.href, at: Date.now(), headers: req.headers, status: 200 });
    res.writeHead(200, { "content-type": file[0], "cache-control": "no-store" });
    res.end(file[1]);
  };
}

const html = () => `<!doctype html><title>shop</title>${trackdeskSnippet("/cf/tracking.js", 'data-endpoint="/"')}`;

const outbox = (page) => page.evaluate(() => JSON.parse(localStorage.getItem("clicktrail_outbox") || "[]"));
const clickPosts = (site, mark) =>
  site.requestsSince(mark).filter((r) => r.method === "POST" && r.path === CLICK);
const eventId = (r) => JSON.parse(r.body).eventId;

/** The click module sent the click: its effects were applied (the loader's `ct:apply` mark,
 * made only when the module wrote the cookie and posted the click). */
async function sentByClickModule(page) {
  const applied = await page.evaluate(() => performance.getEntriesByName("ct:apply").length);
  assert.equal(applied, 1, "the click module applied its effects once");
}

/** Start times (ms) of the loader's marks and of the page's request for the second script. */
const timeline = (page) =>
  page.evaluate((full) => ({
    apply: performance.getEntriesByName("ct:apply").map((e) => e.startTime),
    full: performance.getEntriesByType("resource").filter((e) => e.name.endsWith(full)).map((e) => e.startTime),
  }), FULL_JS);

test("the critical path carries no wasm-bindgen glue: it is in the second script only", () => {
  // tracking.js and its variant that fetches the click module (scripts/build.sh, measured)
  for (const loader of [join(DIST, "tracking.js"), join(SIZE, "tracking-fetched.js")]) {
    const text = readFileSync(loader, "latin1");
    assert.ok(!text.includes("initSync"), `${loader} bundles the glue`);
    assert.ok(text.includes(`"${ID}"`), `${loader} names its second script's build`);
  }
  assert.ok(readFileSync(join(DIST, FULL_JS), "latin1").includes("initSync"), "the second script has the glue");
});

engines((env) => {
  env.test("a landing's click goes once, from the click module; the full module waits for the page's next call, then adopts the click", async () => {
    const { collector, site } = env;
    serve(site);
    const page = await env.newPage();
    const mark = site.mark();
    await page.goto(`${site.page("/shop", html())}?aff=alice`);
    const { cid, expiredAt } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    assert.match(cid, UUID_V4);
    // the module's expiry, formatted by the loader as the full module formats it (RFC 3339,
    // no fraction), 60 days after the click
    assert.match(expiredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const days = (Date.parse(expiredAt) - Date.now()) / 86400e3;
    assert.ok(days > 59.9 && days <= 60, `expiredAt ${expiredAt}: ${days} days ahead`);
    await sentByClickModule(page);
    // the answer holds what the cookie holds (the default lifetime): nothing for the full
    // module on this landing; the click waits in the outbox for a later page's full module
    await eventually(() => page.evaluate(() => performance.getEntriesByName("ct:answer").length), 8000, "answer checked");
    await eventually(() => collector.sql(`select count(*) as n from clicks where cid = '${cid}'`)[0].n === 1, 8000, "click stored");
    await sleep(2500); // past the idle start of the earlier design (2 s at the latest)
    assert.deepEqual((await timeline(page)).full, [], "no second script");
    assert.equal(site.requestsSince(mark).filter((r) => r.path === `/cf/${FULL}`).length, 0, "no full module");
    assert.deepEqual((await outbox(page)).map((e) => JSON.parse(e.b).cid), [cid], "the click kept for a later page");
    // the page's next call starts the full module, after the cookie and the click
    await page.evaluate(() => trackdesk("demo", "ready", () => (window.__ready = true)));
    await eventually(() => page.evaluate(() => window.__ready), 8000, "the call ran in the full module");
    const t = await timeline(page);
    assert.equal(t.full.length, 1, "the second script is added once");
    assert.ok(t.full[0] >= t.apply[0], `second script at ${t.full[0]} ms, before the click module's effects at ${t.apply[0]} ms`);
    // it adopted the answered click: the entry left the outbox, the mirror written
    await eventually(async () => (await outbox(page)).length === 0, 8000, "outbox drained");
    assert.equal(await page.evaluate(() => window.__clickCalls), 1, "the callback ran once");
    const mirror = await page.evaluate(() => JSON.parse(localStorage.getItem("clicktrail") || "null"));
    assert.equal(mirror && mirror.cid, cid, `mirror: ${JSON.stringify(mirror)}`);
    await page.leave();
    await sleep(1000);
    assert.equal(clickPosts(site, mark).length, 1, `one POST: the adopted click is not sent again: ${JSON.stringify(site.requestsSince(mark).map((r) => [r.method, r.path, r.status, r.at, r.body]))}`);
    assert.equal(collector.sql(`select count(*) as n from clicks where cid = '${cid}'`)[0].n, 1);
  });

  env.test("the full module starts on a landing that needs it: a CID field, another cookie lifetime, a single-page move; and not on a page without a code", async () => {
    const { collector, site } = env;
    serve(site);
    const fullAsked = (mark) => site.requestsSince(mark).filter((r) => r.path === `/cf/${FULL_JS}`).length;
    // a CID field added after the click: the full module fills it
    let page = await env.newPage();
    let mark = site.mark();
    await page.goto(`${site.page("/shop-field", html())}?aff=alice`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await eventually(() => page.evaluate(() => performance.getEntriesByName("ct:answer").length), 8000, "answer checked");
    await sleep(300);
    assert.equal(fullAsked(mark), 0, "no field yet: no full module");
    await page.evaluate(() => document.body.insertAdjacentHTML("beforeend", '<form><input type="hidden" name="trakdesk_cid"></form>'));
    await eventually(() => page.evaluate(() => document.querySelector("input[name=trakdesk_cid]").value), 8000, "field filled");
    assert.equal(await page.evaluate(() => document.querySelector("input[name=trakdesk_cid]").value), cid);
    await page.leave();
    await page.close(); // WebKit: one session at a time
    // a single-page landing that moves to another affiliate's URL: the full module counts it
    page = await env.newPage();
    mark = site.mark();
    await page.goto(`${site.page("/shop-spa", html())}?aff=alice`);
    await eventually(() => page.evaluate(() => performance.getEntriesByName("ct:answer").length), 8000, "answer checked");
    assert.equal(fullAsked(mark), 0, "no move yet: no full module");
    await page.evaluate(() => history.pushState({}, "", location.pathname + location.search + "#top")); // the same URL
    await sleep(300);
    assert.equal(fullAsked(mark), 0, "a fragment is no move");
    await page.evaluate(() => history.pushState({}, "", location.pathname + "?aff=bob"));
    const bob = await eventually(() => clickPosts(site, mark).find((r) => JSON.parse(r.body).aff === "bob"), 8000, "bob's click");
    assert.ok(bob, "the move's click");
    assert.deepEqual(await page.pageErrors(), []);
    await page.leave();
    await page.close(); // WebKit: one session at a time
    // an unknown affiliate: the collector refuses the click, the full module removes the cookie
    page = await env.newPage();
    mark = site.mark();
    await page.goto(`${site.page("/shop-unknown", html())}?aff=nobody`);
    await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await eventually(async () => !(await page.cookieValue("trakdesk_cid")), 8000, "cookie removed");
    assert.equal(fullAsked(mark), 1);
    await page.leave();
    await page.close(); // WebKit: one session at a time
    // a tenant whose cookies last 30 days (another collector, its own tenant): the full module
    // applies the answer's expiry
    const dir = mkdtempSync(join(tmpdir(), "clicktrail-30-"));
    const config = join(dir, "clicktrail.toml");
    writeFileSync(config, `[[tenants]]\nid = "month"\ncookie_days = 30\nallowed_origins = ["*"]\n` +
      `api_key = "sk_month_0123456789abcdef"\nstripe_webhook_secret = "whsec_month"\naffiliates = ["alice"]\n`);
    const month = await new Collector({ config }).start();
    try {
      page = await env.newPage();
      mark = site.mark();
      const tag = trackdeskSnippet("/cf/tracking.js", `data-endpoint="${month.origin}"`, "month");
      await page.goto(`${site.page("/shop-30", `<!doctype html><title>shop</title>${tag}`)}?aff=alice`);
      const first = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
      // the full module writes the mirror when it adopts the click (the default 60 days), then
      // applies the answer's expiry
      const daysLeft = (m) => (Date.parse(m.expiredAt) - Date.now()) / 86400e3;
      const mirror = await eventually(async () => {
        const m = await page.evaluate(() => JSON.parse(localStorage.getItem("clicktrail") || "null"));
        return m && daysLeft(m) < 31 && m;
      }, 8000, "the mirror with the answer's expiry");
      assert.equal(mirror.cid, first.cid);
      const days = daysLeft(mirror);
      assert.ok(days > 29.9 && days <= 30, `the tenant's 30 days: ${mirror.expiredAt}`);
      assert.equal(fullAsked(mark), 1);
      await page.leave();
      await page.close(); // WebKit: one session at a time
    } finally {
      await month.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    // a page without a code, where the visitor holds nothing: no full module until a call
    page = await env.newPage();
    mark = site.mark();
    await page.goto(site.page("/shop-plain", html()));
    await sleep(2500);
    assert.equal(fullAsked(mark), 0, "no code, nothing held: no full module");
    assert.equal(await page.evaluate(() => window.__clickCalls), undefined, "no CID: no callback");
    // a single-page app's move to another URL without a code: the click module decides, and
    // the full module still waits
    await page.evaluate(() => history.pushState({}, "", "/shop-plain-2?utm_source=x"));
    await sleep(500);
    assert.equal(fullAsked(mark), 0, "a move without a code: no full module");
    // a move to an affiliate's link: the full module comes and counts it
    await page.evaluate(() => history.pushState({}, "", "/shop-plain-3?aff=bob"));
    const moved = await eventually(() => clickPosts(site, mark).find((r) => JSON.parse(r.body).aff === "bob"), 8000, "the move's click");
    assert.match(JSON.parse(moved.body).url, /\/shop-plain-3\?aff=bob$/);
    assert.equal(fullAsked(mark), 1);
    await page.evaluate(() => trackdesk("demo", "ready", () => (window.__ready = true)));
    await eventually(() => page.evaluate(() => window.__ready), 8000, "the call ran in the full module");
    assert.equal(fullAsked(mark), 1);
    assert.deepEqual(await page.pageErrors(), []);
    await page.leave();
    await page.close(); // WebKit: one session at a time
  });

  env.test("tracking.js before the page's snippet: the page's first click call runs the click module, and the full module still waits for a need", async () => {
    const { collector, site } = env;
    serve(site);
    const page = await env.newPage();
    const mark = site.mark();
    // the snippet's calls come late (a tag manager): nothing is queued when the loader runs
    const late = `<!doctype html><title>shop</title><script async src="/cf/tracking.js" data-endpoint="/"></script>
<script>setTimeout(function () {
(function(t,d,k){(t[k]=t[k]||[]).push(d);t[d]=t[d]||t[k].f||function(){(t[d].q=t[d].q||[]).push(arguments)}})(window,"trackdesk","TrackdeskObject");
trackdesk("demo", "click", {}, function (r) { window.__clickResult = r; });
}, 1000);</script>`;
    await page.goto(`${site.page("/shop-late", late)}?aff=alice`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await sentByClickModule(page);
    await eventually(() => collector.sql(`select count(*) as n from clicks where cid = '${cid}'`)[0].n === 1, 8000, "click stored");
    await sleep(2500);
    assert.deepEqual((await timeline(page)).full, [], "no second script");
    await page.evaluate(() => trackdesk("demo", "ready", () => (window.__ready = true)));
    await eventually(() => page.evaluate(() => window.__ready), 8000, "the call ran in the full module");
    await eventually(async () => (await outbox(page)).length === 0, 8000, "outbox drained");
    assert.equal(clickPosts(site, mark).length, 1, "the click sent once");
    assert.deepEqual(await page.pageErrors(), []);
    await page.leave();
  });

  env.test("a browser without Uint8Array.fromHex: the loader decodes the click module itself, which writes the cookie", async () => {
    const { collector, site } = env;
    serve(site);
    const page = await env.newPage();
    const html = `<!doctype html><title>shop</title><script>delete Uint8Array.fromHex;</script>${trackdeskSnippet("/cf/tracking.js", 'data-endpoint="/"')}`;
    await page.goto(`${site.page("/shop-nofromhex", html)}?aff=alice`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await sentByClickModule(page);
    assert.equal(await page.evaluate(() => typeof Uint8Array.fromHex), "undefined");
    assert.match(await page.cookieValue("trakdesk_cid"), new RegExp(cid));
    await eventually(() => collector.sql(`select count(*) as n from clicks where cid = '${cid}'`)[0].n === 1, 8000, "click stored");
    assert.deepEqual(await page.pageErrors(), []);
    await page.leave();
  });

  env.test("a click answered 503 is re-sent by the full module with the same event id; one click stored", async () => {
    const { collector, site } = env;
    serve(site);
    const page = await env.newPage();
    const mark = site.mark();
    site.failNext(CLICK, 1, 503);
    await page.goto(`${site.page("/shop-503", html())}?aff=alice`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await sentByClickModule(page);
    // written before the POST: the entry is there while the collector has not acknowledged it
    const posts = await eventually(() => {
      const p = clickPosts(site, mark);
      return p.length >= 2 && p;
    }, 20000, "the click re-sent");
    assert.equal(posts[0].status, 503);
    assert.equal(eventId(posts[1]), eventId(posts[0]), "same event id: the collector dedupes");
    assert.equal(JSON.parse(posts[1].body).cid, cid);
    await eventually(() => collector.sql(`select count(*) as n from clicks where cid = '${cid}'`)[0].n === 1, 8000, "click stored");
    await eventually(async () => (await outbox(page)).length === 0, 8000, "outbox drained");
    await page.leave();
    await sleep(1000);
    assert.equal(collector.sql(`select count(*) as n from clicks where cid = '${cid}'`)[0].n, 1, "exactly one click");
  });

  env.test("a click sent while the collector is down is delivered by a later page once it is back", async () => {
    const { collector, site } = env;
    serve(site);
    const page = await env.newPage();
    const mark = site.mark();
    await collector.kill(); // the site answers 502 for every collector path
    await page.goto(`${site.page("/shop-down", html())}?aff=bob`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await sentByClickModule(page);
    const [entry] = await eventually(async () => {
      const v = await outbox(page);
      return v.length === 1 && v[0].n >= 1 && v;
    }, 8000, "the failed click kept in the outbox, its attempt counted");
    assert.equal(entry.p, CLICK);
    assert.equal(JSON.parse(entry.b).cid, cid);
    await collector.start(); // same port, same SQLite file
    await page.goto(site.page("/next", html()));
    await eventually(() => collector.sql(`select count(*) as n from clicks where cid = '${cid}'`)[0].n === 1, 20000, "click delivered after the outage");
    await eventually(async () => (await outbox(page)).length === 0, 20000, "outbox drained");
    const sent = clickPosts(site, mark).filter((r) => r.status === 200 || r.status === 201);
    assert.ok(sent.every((r) => eventId(r) === entry.i), "every attempt carries the click's event id");
    await page.leave();
    await sleep(1500);
    assert.equal(collector.sql(`select count(*) as n from clicks where cid = '${cid}'`)[0].n, 1, "exactly one click");
  });

  test_second_script(env);
});

/** The loader's side of the split: the second script missing, and a visitor who already holds
 * a cookie (the full module at once, the page's queue in order). */
function test_second_script(env) {
  env.test("the second script cannot be downloaded: the cookie and the click stand, nothing thrown; the page's calls stay queued and the next one tries it again", async () => {
    const { collector, site } = env;
    serve(site);
    const page = await env.newPage();
    const mark = site.mark();
    site.failNext(`/cf/${FULL_JS}`, 1, 404);
    await page.goto(`${site.page("/shop-nofull", html())}?aff=alice`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await sentByClickModule(page);
    assert.match(await page.cookieValue("trakdesk_cid"), new RegExp(cid));
    await eventually(() => collector.sql(`select count(*) as n from clicks where cid = '${cid}'`)[0].n === 1, 8000, "click stored");
    // the page's call is kept in the snippet's queue, in order, and asks for the second script
    const queued = await page.evaluate(() => {
      trackdesk("demo", "conversion", { conversionTypeCode: "sale", amount: { value: "1.00" }, externalId: "retry-order" });
      return Array.from(trackdesk.q || [], (a) => a[1]);
    });
    assert.deepEqual(queued, ["conversion"], "the page's call is queued");
    const asked = () => site.requestsSince(mark).filter((r) => r.path === `/cf/${FULL_JS}`).map((r) => r.status);
    await eventually(() => asked().length === 1, 8000, "second script asked");
    assert.deepEqual(asked(), [404]);
    await eventually(async () => (await page.consoleErrors()).some((e) => e.includes(FULL_JS) && e.includes("OFF")), 8000, "console error");
    assert.deepEqual(await page.pageErrors(), [], "nothing thrown into the page");
    assert.equal(site.requestsSince(mark).filter((r) => r.path === `/cf/${FULL}`).length, 0, "no full module without its glue");
    // the next call asks again: this time it comes, and the full module replays both calls
    await page.evaluate(() => trackdesk("demo", "ready", () => (window.__ready = true)));
    await eventually(() => asked().length === 2, 8000, "second script asked again");
    assert.deepEqual(asked(), [404, 200]);
    const sale = await eventually(() => site.requestsSince(mark).find((r) => r.method === "POST" && r.path === CONVERSION && r.body), 8000, "the queued conversion sent");
    assert.equal(JSON.parse(sale.body).externalId, "retry-order");
    await eventually(() => page.evaluate(() => window.__ready), 8000, "the second call ran");
    assert.equal(site.requestsSince(mark).filter((r) => r.path === `/cf/${FULL}`).length, 1, "the full module, once");
    assert.deepEqual(await page.pageErrors(), [], "nothing thrown into the page");
    await page.leave();
  });

  env.test("a conversion given on a landing whose second script cannot be downloaded, then the page left: the next page sends it once", async () => {
    const { collector, site } = env;
    serve(site);
    const page = await env.newPage();
    const mark = site.mark();
    site.failNext(`/cf/${FULL_JS}`, 1, 404);
    await page.goto(`${site.page("/shop-kept", html())}?aff=alice`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await eventually(() => collector.sql(`select count(*) as n from clicks where cid = '${cid}'`)[0].n === 1, 8000, "click stored");
    await page.evaluate(() => trackdesk("demo", "conversion", { conversionTypeCode: "sale", amount: { value: "7.00" }, externalId: "kept-order" }, () => {}));
    const asked = () => site.requestsSince(mark).filter((r) => r.path === `/cf/${FULL_JS}`).map((r) => r.status);
    await eventually(() => asked().length === 1, 8000, "second script asked");
    assert.deepEqual(asked(), [404]);
    // the visitor moves on before any other call: the conversion leaves with the page
    await page.goto(site.page("/shop-kept-next", html()));
    const stored = () => collector.sql("select count(*) as n, min(cid) as cid, min(amount_cents) as cents from conversions where external_id = 'kept-order'")[0];
    await eventually(() => stored().n === 1, 8000, "the kept conversion stored");
    assert.equal(stored().cid, cid, "attributed to the landing's visitor");
    assert.equal(stored().cents, 700);
    assert.equal(await page.evaluate(() => localStorage.getItem("clicktrail_queue")), null, "taken by the next page");
    assert.deepEqual(await page.pageErrors(), []);
    await page.leave();
    await sleep(1000);
    assert.equal(stored().n, 1, "once");
  });

  env.test("a visitor who holds a cookie: the full module starts at once, runs the page's queued commands and re-sends the last landing's click", async () => {
    const { collector, site } = env;
    serve(site);
    const page = await env.newPage();
    await page.goto(`${site.page("/shop-first", html())}?aff=alice`);
    const first = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "first click");
    await eventually(() => collector.sql(`select count(*) as n from clicks where cid = '${first.cid}'`)[0].n === 1, 8000, "first click stored");
    // the first page needs no full module: its answered click waits in the outbox
    await eventually(() => page.evaluate(() => performance.getEntriesByName("ct:answer").length), 8000, "answer checked");
    const [kept] = await outbox(page);
    const mark = site.mark();
    // the same visitor lands again, from another affiliate: the click module leaves it (a
    // cookie is held), the full module does the click, then the page's next command
    const again = `<!doctype html><title>shop</title>${trackdeskSnippet("/cf/tracking.js", 'data-endpoint="/"')}
<script>trackdesk("demo", "ready", function () { window.__order = (window.__order || []).concat("ready"); });</script>`;
    await page.goto(`${site.page("/shop-again", again)}?aff=bob`);
    await eventually(() => page.evaluate(() => window.__order), 8000, "ready callback");
    assert.equal(await page.evaluate(() => performance.getEntriesByName("ct:apply").length), 0, "the click module sent nothing");
    const posts = await eventually(() => {
      const p = clickPosts(site, mark);
      return p.length && p;
    }, 8000, "the full module's click");
    const bob = posts.filter((r) => JSON.parse(r.body).aff === "bob");
    assert.equal(bob.length, 1, JSON.stringify(posts.map((r) => r.body)));
    // and re-sends the first page's click (its event id: the collector keeps one): the outbox
    // drained
    await eventually(() => clickPosts(site, mark).some((r) => eventId(r) === kept.i), 8000, "the first click re-sent");
    await eventually(async () => (await outbox(page)).length === 0, 8000, "outbox drained");
    const alice = collector.sql(`select count(*) as n from clicks where cid = '${first.cid}' and affiliate = 'alice'`);
    assert.equal(alice[0].n, 1, "one click of the first page");
    const asked = site.requestsSince(mark).filter((r) => r.path === `/cf/${FULL_JS}`);
    assert.equal(asked.length, 1, `the second script is asked once: ${JSON.stringify(await timeline(page))}`);
    assert.deepEqual(await page.pageErrors(), []);
    await page.leave();
  });

  env.test("commands queued behind a landing's click start the full module at once: the click module's click, then the conversion", async () => {
    const { collector, site } = env;
    serve(site);
    const page = await env.newPage();
    const mark = site.mark();
    const both = `<!doctype html><title>shop</title>${trackdeskSnippet("/cf/tracking.js", 'data-endpoint="/"')}
<script>trackdesk("demo", "conversion", { conversionTypeCode: "sale", amount: { value: "5.00" }, externalId: "behind-click" });</script>`;
    await page.goto(`${site.page("/shop-both", both)}?aff=alice`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await sentByClickModule(page);
    const stored = () => collector.sql("select count(*) as n, min(cid) as cid from conversions where external_id = 'behind-click'")[0];
    await eventually(() => stored().n === 1, 8000, "the queued conversion stored, with no further call");
    assert.equal(stored().cid, cid, "attributed to the landing's click");
    await eventually(async () => (await outbox(page)).length === 0, 8000, "outbox drained");
    assert.equal(clickPosts(site, mark).length, 1, "the click sent once (adopted by the full module)");
    assert.deepEqual(await page.pageErrors(), []);
    await page.leave();
  });

  env.test("a returning visitor (a cookie held, nothing to send) on a page without a code: no full module until the page needs it", async () => {
    const { collector, site } = env;
    serve(site);
    const fullAsked = (mark) => site.requestsSince(mark).filter((r) => r.path === `/cf/${FULL_JS}`).length;
    // the Trackdesk snippet's plain click, no callback
    const plain = (extra = "") => `<!doctype html><title>shop</title><script async src="/cf/tracking.js" data-endpoint="/"></script>
<script>(function(t,d,k){(t[k]=t[k]||[]).push(d);t[d]=t[d]||t[k].f||function(){(t[d].q=t[d].q||[]).push(arguments)}})(window,"trackdesk","TrackdeskObject");
trackdesk("demo", "click");${extra}</script>`;
    const page = await env.newPage();
    await page.goto(`${site.page("/ret-landing", html())}?aff=alice`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    await eventually(() => page.evaluate(() => performance.getEntriesByName("ct:answer").length), 8000, "answer checked");
    // the next page: the landing's click is still in the outbox, so the full module comes (in
    // idle time) and re-sends it
    let mark = site.mark();
    await page.goto(site.page("/ret-second", plain()));
    await eventually(async () => (await outbox(page)).length === 0, 8000, "outbox drained");
    assert.equal(fullAsked(mark), 1, "events to send: the full module");
    // a page after it: a cookie held, nothing to send, nothing called but the click
    mark = site.mark();
    await page.goto(site.page("/ret-plain", plain()));
    await sleep(2500); // past an idle-time start (2 s at the latest)
    assert.equal(fullAsked(mark), 0, "nothing to do: no full module");
    await page.evaluate(() => history.pushState({}, "", "/ret-plain-2"));
    await sleep(500);
    assert.equal(fullAsked(mark), 0, "a single-page move without a code: no full module");
    assert.match(await page.cookieValue("trakdesk_cid"), new RegExp(cid), "the cookie stays");
    // a CID field added later: the full module comes and fills it
    await page.evaluate(() => document.body.insertAdjacentHTML("beforeend", '<form><input type="hidden" name="trakdesk_cid"></form>'));
    await eventually(() => page.evaluate(() => document.querySelector("input[name=trakdesk_cid]").value), 8000, "field filled");
    assert.equal(await page.evaluate(() => document.querySelector("input[name=trakdesk_cid]").value), cid);
    assert.equal(fullAsked(mark), 1);
    // a click with a callback gets the CID (the full module, in idle time)
    await page.goto(site.page("/ret-callback", html()));
    const again = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback on a returning visit");
    assert.equal(again.cid, cid);
    // a conversion queued behind the click goes at once, attributed
    await page.goto(site.page("/ret-thanks", plain(`
trackdesk("demo", "conversion", { conversionTypeCode: "sale", amount: { value: "9.00" }, externalId: "returning-order" });`)));
    const stored = () => collector.sql("select count(*) as n, min(cid) as cid from conversions where external_id = 'returning-order'")[0];
    await eventually(() => stored().n === 1, 8000, "the returning visitor's conversion stored");
    assert.equal(stored().cid, cid);
    assert.deepEqual(await page.pageErrors(), []);
    await page.leave();
  });
}
