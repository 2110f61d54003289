// First-party mode: the merchant serves the tracker from their own origin,
// reverse-proxied to the collector with the prefix stripped (/_ct/tracking.js ->
// collector /tracking.js). The Site here is that proxy (nginx's `location /_ct/ {
// proxy_pass http://collector/; }`): only /_ct/* reaches the collector, so a request to
// /tracking/... at the root is a 404 the test sees.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { engines, Site, trackdeskSnippet, cookieValue, eventually, UUID_V4, sleep, wasmFile, ROOT } from "./harness.mjs";

const DAY = 86400;

/** The tracker's requests the site saw since `mark` (paths only). */
const trackerPaths = (site, mark) =>
  site.requestsSince(mark).filter((r) => /tracking|clicktrail|\.wasm/.test(r.path)).map((r) => `${r.method} ${r.path}`);

engines((env) => {
  let fp; // https://shop.example/_ct/... -> collector
  let assets; // a CDN-style folder and another script name: /assets/ct/ct.min.js -> collector /tracking.js
  before(async () => {
    fp = await new Site({ upstream: env.collector, prefix: "/_ct" }).start();
    assets = await new Site({ upstream: env.collector, prefix: "/assets/ct", rename: { "/ct.min.js": "/tracking.js" } }).start();
  });
  after(async () => {
    await fp?.stop();
    await assets?.stop();
  });

  env.test("the tracker loaded from /_ct/tracking.js sends to /_ct/tracking/... and fetches /_ct/clicktrail_bg.<id>.wasm", async () => {
    const page = await env.newPage(fp);
    const url = fp.page("/shop", `<!doctype html><title>shop</title>${trackdeskSnippet("/_ct/tracking.js")}`);
    const mark = fp.mark();
    const clicks0 = (await env.collector.affiliate("alice")).clicks;
    await page.goto(`${url}?aff=alice`);
    await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    // the page's next call starts the full module
    await page.evaluate(() => trackdesk("demo", "ready", () => (window.__ready = true)));
    await eventually(() => page.evaluate(() => window.__ready), 8000, "the full module ran the call");
    await sleep(300);
    const seen = trackerPaths(fp, mark);
    assert.ok(seen.includes(`GET /_ct/${wasmFile()}`), `this build's wasm beside the script: ${seen}`);
    assert.ok(!seen.includes("GET /_ct/clicktrail_bg.wasm"), `not the hash-free name: ${seen}`);
    // served precompressed (the browser decoded it: the click went out) and immutable
    const got = (p) => fp.requestsSince(mark).find((r) => r.path === p);
    const wasm = got(`/_ct/${wasmFile()}`);
    assert.match(wasm.responseHeaders["content-encoding"] || "", /^(br|gzip)$/,
      `wasm sent compressed for Accept-Encoding ${wasm.headers["accept-encoding"]}`);
    assert.equal(wasm.responseHeaders["cache-control"], "public, max-age=31536000, immutable");
    const js = got("/_ct/tracking.js");
    assert.match(js.responseHeaders["content-encoding"] || "", /^(br|gzip)$/, "tracking.js sent compressed");
    assert.equal(js.responseHeaders["cache-control"], "public, max-age=300");
    assert.ok(seen.includes("POST /_ct/tracking/click/v1"),
      `the default endpoint is the script's folder; the site saw: ${seen.join(", ")}`);
    assert.deepEqual(seen.filter((r) => r.startsWith("POST /tracking/")), [], "nothing sent to the site's root");
    await eventually(async () => (await env.collector.affiliate("alice")).clicks === clicks0 + 1, 8000, "click stored");
    assert.deepEqual(await page.pageErrors(), []);
  });

  env.test("another folder and script name: the wasm is found beside the script, events go to that folder", async () => {
    const page = await env.newPage(assets);
    const url = assets.page("/landing", `<!doctype html><title>landing</title>${trackdeskSnippet("/assets/ct/ct.min.js")}`);
    const mark = assets.mark();
    const bob0 = (await env.collector.affiliate("bob")).clicks;
    await page.goto(`${url}?aff=bob`);
    await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    // the page's next call starts the full module
    await page.evaluate(() => trackdesk("demo", "ready", () => (window.__ready = true)));
    await eventually(() => page.evaluate(() => window.__ready), 8000, "the full module ran the call");
    await sleep(300);
    const seen = trackerPaths(assets, mark);
    assert.ok(seen.includes(`GET /assets/ct/${wasmFile()}`), `wasm beside ct.min.js: ${seen}`);
    assert.ok(seen.includes("POST /assets/ct/tracking/click/v1"), `endpoint = the script's folder: ${seen.join(", ")}`);
    await eventually(async () => (await env.collector.affiliate("bob")).clicks === bob0 + 1, 8000, "click stored");
    assert.deepEqual(await page.pageErrors(), []);
  });

  // A preloaded response is only reused by a fetch with the same URL, mode and credentials
  // mode; `Cache-Control: no-store` on the wasm here so that the HTTP cache cannot hide a
  // second download. The control case (a plain fetch() matching the same preload) shows
  // the engine reuses no-store preloads at all. Two documented tags: the hashed name
  // (what tracking.js fetches) and the hash-free name (the loader then fetches the
  // preload's URL and checks its build id).
  const preloadTag = (file) => `<link rel="preload" as="fetch" crossorigin href="/_ct/${file}">`;
  // Measured (docs/browsers.md): Chromium reuses a no-store preload only for a fetch with
  // the same credentials mode (with the collector's cacheable headers its HTTP cache hides a
  // mismatch); Firefox reuses it whatever the credentials mode; WebKitGTK downloads twice
  // even for a plain fetch() of a preloaded URL, cacheable or not.
  const WEBKIT_PRELOAD = "WebKitGTK never reuses a <link rel=preload as=fetch> for fetch() (2 downloads even for a plain fetch of the preloaded URL, measured with and without no-store)";
  for (const [which, file] of [["the hashed name", () => wasmFile()], ["the hash-free name", () => "clicktrail_bg.wasm"]]) {
    env.test(`a <link rel=preload as=fetch crossorigin> of the wasm (${which}) is used, not downloaded twice`, { skip: { webkit: WEBKIT_PRELOAD } }, async () => {
      const path = `/_ct/${file()}`;
      const restore = fp.override(path, { "cache-control": "no-store" });
      try {
        // the full module's downloads (the click module is another file, never preloaded)
        const wasmGets = (mark) => fp.requestsSince(mark).filter((r) => /\/clicktrail_bg[.\w]*\.wasm$/.test(r.path)).map((r) => r.path);
        // Control: the page's own fetch() with the defaults the preload matches.
        const control = await env.newPage(fp);
        const curl = fp.page(`/preload-control-${which.replace(/\W/g, "-")}`, `<!doctype html><title>control</title>${preloadTag(file())}
<script>addEventListener("load", () => fetch("${path}").then((r) => r.arrayBuffer()).then(() => { window.__done = true; }));</script>`);
        let mark = fp.mark();
        await control.goto(curl);
        await control.waitForFunction(() => window.__done === true);
        await sleep(300);
        assert.deepEqual(wasmGets(mark), [path], `${env.engine} downloads a preloaded no-store fetch twice even for a plain fetch()`);

        const page = await env.newPage(fp);
        const url = fp.page(`/preload-${which.replace(/\W/g, "-")}`, `<!doctype html><title>preload</title>${preloadTag(file())}${trackdeskSnippet("/_ct/tracking.js")}`);
        mark = fp.mark();
        await page.goto(`${url}?aff=alice`);
        await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
        // the page's next call starts the full module
        await page.evaluate(() => trackdesk("demo", "ready", () => (window.__ready = true)));
        await eventually(() => page.evaluate(() => window.__ready), 8000, "the full module ran the call");
        await sleep(500);
        assert.deepEqual(wasmGets(mark), [path],
          "one wasm download: the loader fetches the preload's URL as the preload did (mode cors, credentials same-origin)");
        assert.deepEqual(await page.consoleErrors(), [], "no 'preload not used' warning turned error");
        assert.deepEqual(await page.pageErrors(), []);
      } finally {
        restore();
      }
    });
  }

  env.test("a hash-free preload that holds another build's wasm: the loader fetches its own build's and starts", async () => {
    // Another build: the hash-free URL answers a wasm whose build id (custom section "ct")
    // is not this tracking.js's, as a cache holding the previous deploy's file would.
    const stale = await new Site({ upstream: env.collector, prefix: "/_ct" }).start();
    try {
      const other = Buffer.from(readFileSync(join(ROOT, "dist/clicktrail_bg.wasm")));
      const at = other.lastIndexOf(Buffer.from("ct"));
      other.write("00000000", at + 2, "ascii"); // same code, another build id
      stale.pages.set("/_ct/clicktrail_bg.wasm", { html: other, headers: { "content-type": "application/wasm" } });
      const page = await env.newPage(stale);
      const url = stale.page("/stale", `<!doctype html><title>stale</title>${preloadTag("clicktrail_bg.wasm")}${trackdeskSnippet("/_ct/tracking.js")}`);
      const mark = stale.mark();
      await page.goto(`${url}?aff=alice`);
      await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
      const wasm = () => stale.requestsSince(mark).filter((r) => /\.wasm$/.test(r.path)).map((r) => r.path);
      // the page's next call starts the full module
      await page.evaluate(() => trackdesk("demo", "ready", () => {}));
      await eventually(() => wasm().includes(`/_ct/${wasmFile()}`), 8000, `then this build's hashed file: ${wasm()}`);
      assert.ok(wasm().includes("/_ct/clicktrail_bg.wasm"), `the preloaded URL was tried: ${wasm()}`);
      await eventually(() => page.evaluate(() => typeof window.TrackdeskObject.f == "function"), 8000, "the full module started");
      assert.deepEqual(await page.pageErrors(), []);
    } finally {
      await stale.stop();
    }
  });

  env.test("the click answer sets trakdesk_cid with Set-Cookie (raw JSON, Path=/, SameSite=Lax, Max-Age 60 days)", async () => {
    const page = await env.newPage(fp);
    const url = fp.page("/sc", `<!doctype html><title>shop</title>${trackdeskSnippet("/_ct/tracking.js")}`);
    const mark = fp.mark();
    await page.goto(`${url}?aff=alice`);
    const { cid } = await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    const click = await eventually(() => fp.requestsSince(mark).find((r) =>
      r.path.endsWith("/tracking/click/v1") && r.body !== undefined), 8000, "click request");
    assert.equal(click.path, "/_ct/tracking/click/v1", "first-party endpoint (the script's folder)");
    await eventually(() => click.status, 8000, "click answered");
    const body = JSON.parse(click.body);
    assert.ok(body.cookie && typeof body.cookie === "object",
      `the click body carries "cookie": {...} when the endpoint is the page's origin: ${click.body}`);
    assert.match(click.headers.cookie || "", /trakdesk_cid=/,
      "the click is sent with the page's cookies (credentials not 'omit'), so its Set-Cookie is stored");
    const setCookie = [].concat(click.responseHeaders["set-cookie"] || []);
    const ours = setCookie.find((c) => c.startsWith("trakdesk_cid="));
    assert.ok(ours, `Set-Cookie trakdesk_cid in the click answer: ${JSON.stringify(setCookie)}`);
    const [pair, ...attrs] = ours.split(/;\s*/);
    assert.equal(pair, `trakdesk_cid={"tenantId":"demo","cid":"${cid}"}`);
    const attr = Object.fromEntries(attrs.map((a) => { const [k, v = true] = a.split("="); return [k.toLowerCase(), v]; }));
    assert.equal(attr.path, "/");
    assert.equal(String(attr.samesite).toLowerCase(), "lax");
    assert.equal(attr.httponly, undefined, "readable by page code");
    assert.ok(Math.abs(Number(attr["max-age"]) - 60 * DAY) <= DAY, `Max-Age ${attr["max-age"]}`);
    assert.equal(attr.domain, undefined, "no Domain on an IP host");

    // What the page sees afterwards: the same raw JSON, ~60 days.
    assert.equal(await cookieValue(page, "trakdesk_cid"), `{"tenantId":"demo","cid":"${cid}"}`);
    const jar = (await page.cookies(fp.origin)).find((c) => c.name === "trakdesk_cid");
    assert.ok(jar && Math.abs(jar.expires - (Date.now() / 1000 + 60 * DAY)) < DAY, `expiry ${jar && jar.expires}`);
    assert.match(cid, UUID_V4);
    assert.deepEqual(await page.pageErrors(), []);
  });

  env.test("Affitor mode: the click answer also sets affitor_click_id with Set-Cookie", async () => {
    const page = await env.newPage(fp);
    const url = fp.page("/aff", `<!doctype html><title>affitor</title>
<script src="/_ct/tracking.js" data-affitor-program-id="demo"></script>`);
    const mark = fp.mark();
    await page.goto(`${url}?aff=bob`);
    const clickId = await eventually(() => page.evaluate(() => window.affitor && window.affitor.getClickId()), 8000, "click id");
    const click = await eventually(() => fp.requestsSince(mark).find((r) =>
      r.path.endsWith("/tracking/click/v1")), 8000, "click request");
    assert.equal(click.path, "/_ct/tracking/click/v1", "first-party endpoint (the script's folder)");
    await eventually(() => click.status, 8000, "click answered");
    const setCookie = [].concat(click.responseHeaders["set-cookie"] || []);
    assert.ok(setCookie.some((c) => c.startsWith(`affitor_click_id=${clickId};`)),
      `Set-Cookie affitor_click_id=${clickId}: ${JSON.stringify(setCookie)}`);
    assert.ok(setCookie.some((c) => c.startsWith("trakdesk_cid=")), JSON.stringify(setCookie));
    assert.deepEqual(await page.pageErrors(), []);
  });

  env.test("a collector on another origin gets no cookie field and answers no Set-Cookie", async () => {
    // The page on the site origin, the tracker straight from the collector (another port:
    // another origin, so not first-party mode).
    const page = await env.newPage(fp);
    const url = fp.page("/cross", `<!doctype html><title>cross</title>${trackdeskSnippet(`${env.collector.origin}/tracking.js`)}`);
    await page.goto(`${url}?aff=alice`);
    await eventually(() => page.evaluate(() => window.__clickResult), 8000, "click callback");
    const rows = env.collector.sql("select count(*) as n from clicks")[0].n;
    assert.ok(rows >= 1);
    // The request went straight to the collector: check its answer by replaying the body shape.
    const res = await fetch(`${env.collector.origin}/tracking/click/v1`, {
      method: "POST",
      headers: { origin: fp.origin },
      body: JSON.stringify({ tenantId: "demo", aff: "alice", url: `${url}?aff=alice`, referrer: "", eventId: crypto.randomUUID() }),
    });
    assert.ok(res.ok, `click answered ${res.status}`);
    assert.equal(res.headers.get("set-cookie"), null, "no cookie field, no Set-Cookie");
    assert.deepEqual(await page.pageErrors(), []);
  });
});
