// The release artifact (npm run release) as an operator installs it: the tarball matches
// SHA256SUMS, unpacks into an empty folder, and its binary alone — no dist/, www/ or source
// beside it — serves tracking.js in each encoding, the hashed wasm, the dashboard and a click.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createServer } from "node:net";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import http from "node:http";

const ROOT = resolve(import.meta.dirname, "../..");
const RELEASE = join(ROOT, "dist", "release");

let folder, proc, base, logs = "";

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    }).on("error", fail);
  });
}

/** A raw GET/POST (fetch would decode the body and hide Content-Encoding). */
function request(path, { method = "GET", headers = {}, body } = {}) {
  return new Promise((ok, fail) => {
    const req = http.request(base + path, { method, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => ok({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", fail);
    if (body) req.write(body);
    req.end();
  });
}

before(async () => {
  const tarballs = readdirSync(RELEASE).filter((f) => f.endsWith(".tar.gz"));
  assert.equal(tarballs.length, 1, `one tarball in dist/release (run npm run release): ${tarballs}`);
  const sums = readFileSync(join(RELEASE, "SHA256SUMS"), "utf8").trim().split(/\s+/);
  const digest = createHash("sha256").update(readFileSync(join(RELEASE, tarballs[0]))).digest("hex");
  assert.deepEqual(sums, [digest, tarballs[0]], "SHA256SUMS names the tarball and its digest");

  folder = mkdtempSync(join(tmpdir(), "clicktrail-release-"));
  execFileSync("tar", ["xzf", join(RELEASE, tarballs[0]), "-C", folder]);
  const [top] = readdirSync(folder);
  assert.equal(`${top}.tar.gz`, tarballs[0], "one folder named like the tarball");
  const dir = join(folder, top);
  for (const f of ["bin/clicktrail-collector", "LICENSE", "README.md", "clicktrail.example.toml", "VERSION", "deploy/nginx/collector.conf"]) {
    assert.ok(existsSync(join(dir, f)), `the tarball has ${f}`);
  }
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // cwd: the unpacked folder, which has no dist/ and no www/
  proc = spawn(join(dir, "bin/clicktrail-collector"),
    ["serve", "--demo", "--db", join(folder, "demo.db"), "--listen", `127.0.0.1:${port}`],
    { cwd: dir, env: { ...process.env, CLICKTRAIL_DB: "", RUST_LOG: "warn" } });
  proc.stdout.on("data", (d) => (logs += d));
  proc.stderr.on("data", (d) => (logs += d));
  for (let i = 0; i < 200; i++) {
    try {
      if ((await request("/healthz")).status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the released collector did not start:\n${logs}`);
});

after(() => {
  proc?.kill("SIGTERM");
  if (folder) rmSync(folder, { recursive: true, force: true });
});

test("--version names the release and the built-in tracker build", () => {
  const dir = join(folder, readdirSync(folder).find((f) => f.startsWith("clicktrail-")));
  const out = execFileSync(join(dir, "bin/clicktrail-collector"), ["--version"], { encoding: "utf8" }).trim();
  assert.match(out, /^clicktrail-collector \d+\.\d+\.\d+ \(tracker build [0-9a-f]{8} built in\)$/);
  assert.equal(out, readFileSync(join(dir, "VERSION"), "utf8").trim());
});

test("tracking.js in br, gzip and identity: the same script", async () => {
  const plain = await request("/tracking.js");
  assert.equal(plain.status, 200, logs);
  assert.match(plain.headers["content-type"], /javascript/);
  assert.equal(plain.headers["content-encoding"], undefined);
  assert.ok(plain.body.length > 500, "a real script");
  const br = await request("/tracking.js", { headers: { "accept-encoding": "br" } });
  assert.equal(br.headers["content-encoding"], "br");
  assert.ok(br.body.length < plain.body.length);
  assert.deepEqual(brotliDecompressSync(br.body), plain.body);
  const gz = await request("/tracking.js", { headers: { "accept-encoding": "gzip" } });
  assert.equal(gz.headers["content-encoding"], "gzip");
  assert.deepEqual(gunzipSync(gz.body), plain.body);
  const again = await request("/tracking.js", { headers: { "if-none-match": plain.headers.etag } });
  assert.equal(again.status, 304, "revalidation by ETag");
});

test("every content-hashed file tracking.js names is served, immutable", async () => {
  const js = (await request("/tracking.js")).body.toString();
  // the full modules (one per page mode) by build id, each a wasm and the script with its glue
  // (the click module is inlined)
  const ids = [...new Set([...js.matchAll(/"([0-9a-f]{8})"/g)].map((m) => m[1]))];
  assert.ok(ids.length >= 1 && ids.length <= 4, `one full module per page mode: ${ids}`);
  const wasm = ids.map((id) => `clicktrail_bg.${id}.wasm`);
  for (const name of [...wasm, ...ids.map((id) => `clicktrail_full.${id}.js`)]) {
    const r = await request(`/${name}`, { headers: { "accept-encoding": "br" } });
    assert.equal(r.status, 200, name);
    assert.equal(r.headers["content-type"], name.endsWith(".js") ? "application/javascript; charset=utf-8" : "application/wasm", name);
    assert.match(r.headers["cache-control"], /immutable/, name);
    const bytes = r.headers["content-encoding"] === "br" ? brotliDecompressSync(r.body) : r.body;
    if (wasm.includes(name)) assert.deepEqual([...bytes.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d], `${name}: a WebAssembly module`);
    else assert.match(bytes.toString(), /clicktrail/, `${name}: the glue`);
  }
});

test("the dashboard and a click", async () => {
  const dash = await request("/dashboard");
  assert.equal(dash.status, 200);
  assert.match(dash.body.toString(), /<html|<!doctype/i);
  const cid = "0b5e3c1e-2f1a-4c7e-9a3b-5d6f7e8a9b0c";
  const click = await request("/tracking/click/v1", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: JSON.stringify({ tenantId: "demo", aff: "alice", cid, eventId: "5f0c6a3e-1d2b-4c8e-9f7a-6b5c4d3e2f1a", url: "http://127.0.0.1/?aff=alice", referrer: "" }),
  });
  assert.equal(click.status, 200, click.body.toString());
  assert.equal(JSON.parse(click.body).cid, cid);
  const report = await request("/api/v1/report", { headers: { authorization: "Bearer demo_secret_key" } });
  assert.equal(JSON.parse(report.body).totals.clicks, 1, "the click was stored");
});
