// The harness itself, per engine: the error capture every test relies on for
// `pageErrors() == []` sees uncaught errors, rejections and console.error (in WebKit
// through the hook the Site injects), and evaluate() returns the same values everywhere.
import assert from "node:assert/strict";
import { engines, eventually } from "./harness.mjs";

engines((env) => {
  env.test("uncaught errors, unhandled rejections and console.error are captured", async () => {
    const page = await env.newPage();
    await page.goto(env.site.page("/throws", `<!doctype html><title>throws</title><script>
console.error("clicktrail-test: console error");
setTimeout(() => { throw new Error("harness-probe uncaught"); }, 0);
Promise.reject(new Error("harness-probe rejected"));
</script>`));
    const errors = await eventually(async () => {
      const e = await page.pageErrors();
      return e.some((m) => m.includes("harness-probe uncaught")) && e;
    }, 8000, "uncaught error captured");
    if (env.engine === "webkit") {
      // the injected hook also records unhandled rejections
      assert.ok(errors.some((m) => m.includes("harness-probe rejected")), `rejection captured: ${JSON.stringify(errors)}`);
    }
    assert.ok((await page.consoleErrors()).some((m) => m.includes("clicktrail-test: console error")));
    // kept across a navigation the harness makes
    await page.goto(env.site.page("/clean", "<!doctype html><title>clean</title>"));
    assert.ok((await page.pageErrors()).some((m) => m.includes("harness-probe uncaught")));
  });

  env.test("evaluate returns plain values, undefined and awaited promises alike", async () => {
    const page = await env.newPage();
    await page.goto(env.site.page("/values", "<!doctype html><title>values</title>"));
    assert.equal(await page.evaluate(() => undefined), undefined);
    assert.equal(await page.evaluate(() => null), null);
    assert.deepEqual(await page.evaluate((x) => ({ x, n: 1.5, s: "é" }), [1, "a"]), { x: [1, "a"], n: 1.5, s: "é" });
    assert.equal(await page.evaluate(() => new Promise((ok) => setTimeout(() => ok(42), 50))), 42);
    assert.deepEqual(await page.pageErrors(), []);
  });
});
