// Affitor's tag, unchanged but for src, with `await window.affitor.signup(...)` in the
// very next script: the click and the lead land on the affiliate in the real collector.
import assert from "node:assert/strict";
import { engines, cookieValue, eventually, UUID_V4 } from "./harness.mjs";

const page_ = `<!doctype html><title>affitor</title>
<script src="/tracking.js" data-affitor-program-id="demo" data-affitor-debug="false"></script>
<script type="module">
try { window.__signup = await window.affitor.signup('user_123', 'user@example.com'); }
catch (error) { window.__signupError = String(error.message); }
</script>`;

engines((env) => {
  env.test("affitor.signup right after the tag resolves once the lead is stored", async () => {
    const page = await env.newPage();
    await page.goto(`${env.site.page("/affitor", page_)}?aff=bob`);
    await eventually(() => page.evaluate(() => window.__signup || window.__signupError), 8000, "signup settled");
    assert.equal(await page.evaluate(() => window.__signupError), undefined);
    assert.deepEqual(await page.evaluate(() => window.__signup), { ok: true });

    const clickId = await page.evaluate(() => window.affitor.getClickId());
    assert.match(clickId, UUID_V4);
    assert.equal(await cookieValue(page, "affitor_click_id"), clickId);
    assert.equal(JSON.parse(await cookieValue(page, "trakdesk_cid")).cid, clickId);
    const bob = await env.collector.affiliate("bob");
    assert.equal(bob.clicks, 1);
    assert.equal(bob.leads, 1);
    assert.deepEqual(await page.pageErrors(), []);
  });

  // Issue 8: Affitor's documented snippet must not throw for a visitor who did not come
  // from an affiliate; Affitor's own API accepts a lead with the customer key alone.
  env.test("an organic visitor's affitor.signup resolves: a lead with the customer key alone", async () => {
    const page = await env.newPage();
    const key = `organic-${env.engine}`;
    const html = page_.replace("'user_123', 'user@example.com'", `'${key}', 'organic@example.com'`);
    await page.goto(env.site.page(`/affitor-organic-${env.engine}`, html));
    await eventually(() => page.evaluate(() => window.__signup || window.__signupError), 8000, "signup settled");
    assert.equal(await page.evaluate(() => window.__signupError), undefined,
      "the README's `await window.affitor.signup(...)` must not throw for an organic visitor");
    assert.deepEqual(await page.evaluate(() => window.__signup), { ok: true });
    assert.equal(await page.evaluate(() => window.affitor.getClickId()), null, "no click id: not attributed");
    assert.equal(await cookieValue(page, "trakdesk_cid"), null);
    const leads = env.collector.sql(`select cid, affiliate, email from leads where customer_key = '${key}'`);
    assert.deepEqual(leads, [{ cid: null, affiliate: null, email: "organic@example.com" }]);
    assert.deepEqual(await page.pageErrors(), []);
  });
});
