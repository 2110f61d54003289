// PartnerStackJS pages: PartnerStack's snippet exactly as merchants paste it, with
// only `gs.src` changed to `<collector>/tracking.js?partnerstack=demo`. Partner links
// (`?gspk=<Base64 key>&gsxid=<click id>`, or `?ps_partner_key=<Base64 key>&ps_xid=`) are
// clicks on the affiliate of that code, one per visitor and click id; the cookies
// PartnerStackJS keeps are written beside `trakdesk_cid`; `growsumo.createSignup(callback)` is
// a lead, and its callback is always called.
import assert from "node:assert/strict";
import { engines, eventually, Site, sleep, UUID_V4 } from "./harness.mjs";

/** PartnerStack's snippet, unchanged but for `gs.src`. */
function partnerstackSnippet(src) {
  return `<script>(function(){var gs=document.createElement('script');gs.src='${src}';gs.type='text/javascript';gs.async='true';gs.onload=gs.onreadystatechange=function(){var rs=this.readyState;if(rs&&rs!='complete'&&rs!='loaded')return;try{growsumo._initialize('pk_XXXX');if(typeof(growsumoInit)==='function'){growsumoInit();}}catch(e){}};var s=document.getElementsByTagName('script')[0];s.parentNode.insertBefore(gs,s);})();</script>`;
}

/**
 * A merchant page: the snippet, and `growsumoInit` (which the snippet's onload calls, right
 * after tracking.js ran and long before its wasm has started) setting `growsumo.data` and
 * calling `growsumo.createSignup` once per browser profile (a reload does not sign up again).
 * The callback records when it ran, how often, and the tracker's outbox at that moment.
 */
function page(src, data) {
  return `<!doctype html><title>partnerstack</title>
<script>
window.growsumoInit = function () {
  window.__initialized = true;
  ${data === null ? "" : `if (localStorage.getItem("signed")) return;
  localStorage.setItem("signed", "1");
  window.__startedAtCall = !!window.__clicktrail;
  window.__calledAt = Date.now();
  growsumo.data = ${JSON.stringify(data)};
  growsumo.createSignup(function () {
    window.__cb = (window.__cb || 0) + 1;
    window.__cbAfter = Date.now() - window.__calledAt;
    window.__outboxAtCb = localStorage.getItem("clicktrail_outbox") || "";
  });`}
};
</script>
${partnerstackSnippet(src)}`;
}

const btoaKey = (key) => Buffer.from(key, "utf8").toString("base64");

/** The names of the page's cookies that PartnerStackJS would have set (all but `gspk`). */
const PS_NAMES = /^(growSumoPartnerKey|ps_partner_key|gsxid|ps_xid|_ps_partner_key_[0-9A-Za-z]{8}|_grsmpk[0-9A-Za-z]{8}|_ps_xid_[0-9A-Za-z]{8}_[0-9A-Za-z]{4}|_gsxid[0-9A-Za-z]{12})$/;

/** `{name: value}` of the cookies page code sees. */
const pageCookies = (p) => p.evaluate(() => Object.fromEntries(document.cookie.split("; ").filter(Boolean)
  .map((c) => [c.slice(0, c.indexOf("=")), c.slice(c.indexOf("=") + 1)])));

/** PartnerStackJS's cookies of a click: the key in four, the CID in four. */
function assertPsCookies(jar, key, cid) {
  const ps = Object.entries(jar).filter(([n]) => PS_NAMES.test(n));
  assert.deepEqual(ps.map(([n]) => n.replace(/^(_ps_partner_key_|_grsmpk|_ps_xid_|_gsxid)\w+$/, "$1")).sort(),
    ["_grsmpk", "_gsxid", "_ps_partner_key_", "_ps_xid_", "growSumoPartnerKey", "gsxid", "ps_partner_key", "ps_xid"].sort(), JSON.stringify(jar));
  for (const [n, v] of ps) assert.equal(v, /xid/.test(n) ? cid : encodeURIComponent(key), n);
  // a page gating its sign-up on "a cookie starting with _ps" finds one
  assert.ok(Object.keys(jar).some((n) => n.startsWith("_ps")));
}

/** Adds `alias` (a PartnerStack partner key) to affiliate `code` with the demo admin key. */
async function addAlias(collector, code, alias) {
  const res = await fetch(`${collector.origin}/api/v1/affiliates/${code}/aliases`, {
    method: "POST",
    headers: { authorization: "Bearer demo_admin_key", "content-type": "application/json" },
    body: JSON.stringify({ alias }),
  });
  assert.equal(res.status, 201, await res.text());
}

engines((env) => {
  const src = () => `${env.collector.origin}/tracking.js?partnerstack=demo`;

  env.test("the snippet with only gs.src changed: a partner link is one click on the aliased affiliate, PartnerStack's cookies, createSignup before start-up is a lead", async () => {
    // a partner key whose Base64 has `+`, `/` and `=` (left unencoded in the link: the `+`
    // arrives as a space) and that is not URL-safe text itself
    const key = `>>>???é-${env.engine}`;
    const b64 = btoaKey(key);
    assert.match(b64, /\+.*\//);
    await addAlias(env.collector, "bob", key);
    const gsxid = `gsx-${env.engine}-1`;
    const customer = `cus_ps_${env.engine}`;
    const email = `ann.${env.engine}@example.com`;
    const p = await env.newPage();
    const url = env.site.page(`/ps-${env.engine}`, page(src(), { name: "Ann", email, customer_key: customer }));
    await p.goto(`${url}?utm_source=partner&gspk=${b64}&gsxid=${gsxid}`);
    await eventually(() => p.evaluate(() => window.__cb), 8000, "createSignup callback");
    assert.equal(await p.evaluate(() => window.__startedAtCall), false, "createSignup ran before the wasm started");

    // the callback ran once the collector had acknowledged the lead: not in the outbox any more
    assert.equal(await p.evaluate(() => window.__cb), 1);
    assert.ok(await p.evaluate(() => window.__cbAfter) < 2900, "acknowledged, not the 3 s fallback");
    assert.doesNotMatch(await p.evaluate(() => window.__outboxAtCb), /lead/);
    const cid = JSON.parse(await p.cookieValue("trakdesk_cid")).cid;
    assert.match(cid, UUID_V4);
    assert.deepEqual(env.collector.sql(`select customer_key, email, affiliate, cid from leads where customer_key = '${customer}'`),
      [{ customer_key: customer, email, affiliate: "bob", cid }]);

    // PartnerStack's cookies, as merchant code reads them back
    assert.equal(await p.cookieValue("gspk"), btoaKey(key));
    assert.equal(await p.evaluate(() => decodeURIComponent(escape(atob(document.cookie.match(/(?:^|; )gspk=([^;]*)/)[1])))), key);
    assert.equal(await p.cookieValue("gsxid"), cid);
    assert.equal(await p.cookieValue("growSumoPartnerKey"), encodeURIComponent(key));
    assertPsCookies(await pageCookies(p), key, cid);
    assert.equal(await p.evaluate(() => growsumo.data.partner_key), key);
    assert.equal(await p.evaluate(() => growsumo.data.ps_partner_key), key);
    const jar = Object.fromEntries((await p.cookies(url)).map((c) => [c.name, c]));
    const names = Object.keys(jar).filter((n) => n === "gspk" || PS_NAMES.test(n));
    assert.equal(names.length, 9, names.join());
    for (const name of names) {
      assert.equal(jar[name].path, jar.trakdesk_cid.path, name);
      assert.equal(jar[name].domain, jar.trakdesk_cid.domain, name);
      assert.ok(Math.abs(jar[name].expires - jar.trakdesk_cid.expires) < 5, `${name} expires with trakdesk_cid`);
    }

    let bob = await env.collector.affiliate("bob");
    assert.equal(bob.clicks, 1);
    assert.equal(bob.leads, 1);
    // a reload is one click; so is the same link in a new tab session (the click id with
    // the visitor's CID is the event id: the collector answers it once)
    await p.reload();
    await eventually(() => p.evaluate(() => window.__initialized), 8000, "reloaded");
    await p.evaluate(() => sessionStorage.clear());
    await p.reload();
    await eventually(() => p.evaluate(() => window.__initialized), 8000, "reloaded again");
    await eventually(async () => !(await p.evaluate(() => localStorage.getItem("clicktrail_outbox"))), 8000, "outbox empty");
    await sleep(300);
    bob = await env.collector.affiliate("bob");
    assert.equal(bob.clicks, 1, "one click per PartnerStack click id");
    assert.equal(JSON.parse(await p.cookieValue("trakdesk_cid")).cid, cid);
    assert.deepEqual(await p.pageErrors(), []);
  });

  env.test("one link with a fixed gsxid opened by two visitors: two clicks, two CIDs", async () => {
    const before = (await env.collector.affiliate("alice")).clicks;
    const url = env.site.page(`/ps-shared-${env.engine}`, page(src(), null));
    const link = `${url}?ps_partner_key=${encodeURIComponent(btoaKey("alice"))}&ps_xid=newsletter-${env.engine}`;
    const cids = [];
    for (const _ of [1, 2]) {
      const p = await env.newPage();
      await p.goto(link);
      await eventually(async () => (await p.cookieValue("trakdesk_cid")) !== null, 8000, "cookie written");
      await eventually(async () => !(await p.evaluate(() => localStorage.getItem("clicktrail_outbox"))), 8000, "click answered");
      const cid = JSON.parse(await p.cookieValue("trakdesk_cid")).cid;
      assert.match(cid, UUID_V4);
      assertPsCookies(await pageCookies(p), "alice", cid);
      assert.deepEqual(await p.pageErrors(), []);
      cids.push(cid);
      await p.close(); // one browser session at a time (WebKitWebDriver)
    }
    assert.notEqual(cids[0], cids[1], "each visitor keeps a CID of their own");
    assert.equal((await env.collector.affiliate("alice")).clicks, before + 2);
    assert.deepEqual(env.collector.sql(`select count(*) as n from clicks where cid in ('${cids[0]}', '${cids[1]}')`), [{ n: 2 }]);
  });

  env.test("?ps_partner_key= (Base64, as PartnerStack's links) / ?ps_xid= spelling; the email is the customer key when there is none", async () => {
    const email = `bea.${env.engine}@example.com`;
    const p = await env.newPage();
    const url = env.site.page(`/ps-plain-${env.engine}`, page(src(), { email }));
    const before = (await env.collector.affiliate("alice")).clicks;
    // `YWxpY2U=` with its padding as PartnerStack writes it: unencoded `=`
    await p.goto(`${url}?ps_partner_key=${btoaKey("alice")}&ps_xid=psx-${env.engine}`);
    await eventually(() => p.evaluate(() => window.__cb), 8000, "createSignup callback");
    const cid = JSON.parse(await p.cookieValue("trakdesk_cid")).cid;
    assert.equal(await p.cookieValue("gspk"), btoaKey("alice"));
    assert.equal(await p.cookieValue("gsxid"), cid);
    assert.equal(await p.cookieValue("growSumoPartnerKey"), "alice");
    assertPsCookies(await pageCookies(p), "alice", cid);
    assert.deepEqual(env.collector.sql(`select customer_key, email, affiliate, cid from leads where email = '${email}'`),
      [{ customer_key: email, email, affiliate: "alice", cid }]);
    assert.equal((await env.collector.affiliate("alice")).clicks, before + 1);
    assert.deepEqual(await p.pageErrors(), []);
  });

  env.test("an organic visitor's createSignup: a lead with the customer key alone, the callback is called", async () => {
    const customer = `cus_organic_${env.engine}`;
    const p = await env.newPage();
    await p.goto(env.site.page(`/ps-organic-${env.engine}`, page(src(), { customer_key: customer, email: "org@example.com" })));
    await eventually(() => p.evaluate(() => window.__cb), 8000, "createSignup callback");
    assert.ok(await p.evaluate(() => window.__cbAfter) < 2900, "acknowledged, not the 3 s fallback");
    assert.deepEqual(env.collector.sql(`select cid, affiliate, email from leads where customer_key = '${customer}'`),
      [{ cid: null, affiliate: null, email: "org@example.com" }]);
    for (const name of ["trakdesk_cid", "gspk", "gsxid", "growSumoPartnerKey"]) {
      assert.equal(await p.cookieValue(name), null, name);
    }
    assert.deepEqual(Object.keys(await pageCookies(p)).filter((n) => PS_NAMES.test(n)), []);
    assert.equal(await p.evaluate(() => "partner_key" in growsumo.data), false);
    assert.deepEqual(await p.pageErrors(), []);
  });

  env.test("callbacks: a throwing one never reaches the page, one without key or email is called at once, each exactly once", async () => {
    const customer = `cus_throw_${env.engine}`;
    const p = await env.newPage();
    await p.goto(`${env.site.page(`/ps-cb-${env.engine}`, page(src(), null))}?gspk=Ym9i`);
    await eventually(() => p.evaluate(() => window.__initialized && !!window.__clicktrail), 8000, "tracker started");
    const sync = await p.evaluate((c) => {
      window.__calls = [];
      growsumo.data = { customer_key: c };
      growsumo.createSignup(() => {
        window.__calls.push("throwing");
        throw new Error("merchant bug");
      });
      growsumo.data = { name: "No Key" };
      growsumo.createSignup(() => window.__calls.push("no key"));
      growsumo.createSignup("not a function");
      return window.__calls.slice(); // what ran synchronously
    }, customer);
    assert.deepEqual(sync, ["no key"], "no key: called at once");
    await eventually(() => p.evaluate(() => window.__calls.length === 2), 8000, "throwing callback called");
    await sleep(3300); // past the 3 s fallback: still once each
    assert.deepEqual((await p.evaluate(() => window.__calls)).sort(), ["no key", "throwing"]);
    assert.equal(env.collector.sql(`select affiliate from leads where customer_key = '${customer}'`)[0].affiliate, "bob");
    assert.deepEqual(await p.pageErrors(), []);
  });

  env.test("the wasm cannot start (CSP without 'wasm-unsafe-eval'): held and later callbacks are called at once, no lead", async () => {
    const p = await env.newPage();
    const url = env.site.page(`/ps-csp-${env.engine}`, page(src(), { customer_key: "cus_csp", email: "csp@example.com" }),
      { "content-security-policy": `script-src 'self' 'unsafe-inline' ${env.collector.origin}` });
    await p.goto(`${url}?gspk=Ym9i`);
    await eventually(() => p.evaluate(() => window.__cb), 8000, "held callback");
    assert.equal(await p.evaluate(() => window.__startedAtCall), false);
    assert.ok(await p.evaluate(() => window.__cbAfter) < 2900, "called on the start-up failure, not by the 3 s fallback");
    const sync = await p.evaluate(() => {
      const calls = [];
      growsumo.data = { customer_key: "cus_csp_2" };
      growsumo.createSignup(() => calls.push("later"));
      return calls;
    });
    assert.deepEqual(sync, ["later"], "a call after the failure: at once");
    await sleep(3300);
    assert.equal(await p.evaluate(() => window.__cb), 1);
    assert.deepEqual(env.collector.sql("select customer_key from leads where customer_key like 'cus_csp%'"), []);
    assert.equal(await p.cookieValue("trakdesk_cid"), null);
    const rows = await eventually(() => {
      const r = env.collector.sql("select tenant, kind from diagnostics");
      return r.length && r;
    }, 8000, "diagnostic stored");
    assert.deepEqual(rows, [{ tenant: "demo", kind: "csp" }]);
    assert.deepEqual(await p.pageErrors(), []);
  });

  env.test("a gspk / ps_partner_key that is not Base64 of a valid code is no click, whatever ?aff= says", async () => {
    const p = await env.newPage();
    const url = env.site.page(`/ps-bad-${env.engine}`, page(src(), null));
    const before = (await env.collector.affiliate("alice")).clicks;
    for (const bad of ["gspk=Ym9iY", "gspk=__8", "gspk=AA%3D%3D", "gspk=%ZZ", "ps_partner_key=alice-x"]) {
      await p.goto(`${url}?${bad}&aff=alice&gsxid=bad-${encodeURIComponent(bad)}`);
      await eventually(() => p.evaluate(() => window.__initialized && !!window.__clicktrail), 8000, "tracker started");
    }
    await sleep(500);
    assert.equal(await p.cookieValue("trakdesk_cid"), null);
    assert.equal(await p.cookieValue("gspk"), null);
    assert.equal((await env.collector.affiliate("alice")).clicks, before);
    assert.deepEqual(await p.pageErrors(), []);
  });

  env.test("an unknown partner key: the collector refuses the click and PartnerStack's cookies go with trakdesk_cid", async () => {
    const p = await env.newPage();
    const url = env.site.page(`/ps-unknown-${env.engine}`, page(src(), null));
    await p.goto(`${url}?gspk=${btoaKey("nobody")}&gsxid=unknown-${env.engine}`);
    await eventually(() => p.evaluate(() => window.__initialized && !!window.__clicktrail), 8000, "tracker started");
    await eventually(async () => !(await p.evaluate(() => localStorage.getItem("clicktrail_outbox"))), 8000, "click answered");
    await eventually(async () => (await p.cookieValue("trakdesk_cid")) === null, 8000, "trakdesk_cid removed");
    for (const name of ["gspk", "gsxid", "growSumoPartnerKey"]) assert.equal(await p.cookieValue(name), null, name);
    assert.deepEqual(Object.keys(await pageCookies(p)).filter((n) => PS_NAMES.test(n)), []);
    assert.deepEqual(await p.pageErrors(), []);
  });

  env.test("first-party (the tracker through the shop's own origin): the click answer sets PartnerStack's cookies too", async () => {
    const p = await env.newPage();
    const url = env.site.page(`/ps-1p-${env.engine}`, page("/tracking.js?partnerstack=demo", null));
    const mark = env.site.mark();
    await p.goto(`${url}?gspk=${btoaKey("alice")}&gsxid=fp-${env.engine}`);
    const click = await eventually(() => env.site.requestsSince(mark)
      .find((r) => r.path === "/tracking/click/v1" && r.responseHeaders), 8000, "click answered");
    const cid = JSON.parse(await p.cookieValue("trakdesk_cid")).cid;
    assert.equal(JSON.parse(click.body).eventId, `gsxid:fp-${env.engine}:${cid}`);
    const set = [].concat(click.responseHeaders["set-cookie"] || []).map((c) => c.split(";")[0]);
    // the collector's cookies have the names the tracker gave them: they replace them
    const jar = await pageCookies(p);
    const mine = Object.entries(jar).filter(([n]) => n === "gspk" || n === "trakdesk_cid" || PS_NAMES.test(n));
    assert.deepEqual(set.sort(), mine.map(([n, v]) => `${n}=${v}`).sort());
    assert.equal(set.length, 10, set.join("; "));
    assertPsCookies(jar, "alice", cid);
    assert.equal(await p.cookieValue("gsxid"), cid);
    assert.equal(await p.cookieValue("gspk"), btoaKey("alice"));
    assert.deepEqual(await p.pageErrors(), []);
  });

  env.test("collector unreachable: the callback is still called after about 3 s, the lead stays in the outbox", async () => {
    // the collector behind a proxy of its own origin, stopped once the tracker has started
    const edge = await new Site({ upstream: env.collector }).start();
    try {
      const p = await env.newPage(edge);
      await p.goto(`${env.site.page(`/ps-down-${env.engine}`, page(`${edge.origin}/tracking.js?partnerstack=demo`, null))}?gspk=Ym9i`);
      await eventually(() => p.evaluate(() => window.__initialized && !!window.__clicktrail), 8000, "tracker started");
      await eventually(async () => !(await p.evaluate(() => localStorage.getItem("clicktrail_outbox"))), 8000, "click sent");
      await edge.stop();
      await p.evaluate(() => {
        window.__calls = 0;
        const at = Date.now();
        growsumo.data = { customer_key: "cus_down", email: "down@example.com" };
        growsumo.createSignup(() => {
          window.__calls += 1;
          window.__after = Date.now() - at;
          window.__outbox = localStorage.getItem("clicktrail_outbox") || "";
        });
      });
      await eventually(() => p.evaluate(() => window.__calls), 6000, "callback despite the outage");
      const after = await p.evaluate(() => window.__after);
      assert.ok(after >= 2900 && after < 4500, `called after ${after} ms`);
      assert.match(await p.evaluate(() => window.__outbox), /cus_down/, "the lead waits in the outbox for a retry");
      await sleep(500);
      assert.equal(await p.evaluate(() => window.__calls), 1);
      assert.deepEqual(await p.pageErrors(), []);
    } finally {
      await edge.stop();
    }
  });
});
