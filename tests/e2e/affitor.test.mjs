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

  env.test("without an affiliate the held signup rejects with a readable error", async () => {
    const page = await env.newPage();
    await page.goto(env.site.page("/affitor", page_));
    const error = await eventually(() => page.evaluate(() => window.__signupError), 8000, "signup rejected");
    assert.match(error, /^clicktrail: /);
    assert.deepEqual(await page.pageErrors(), []);
  });
});
