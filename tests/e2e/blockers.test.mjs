// Blocker-proof delivery, asked of a real filter engine (@ghostery/adblocker) loaded with
// the real lists visitors' blockers use (uBlock Origin's defaults from the installed Debian
// package, AdGuard's and Brave's kept in tests/fixtures/adblock; profiles.json says which
// list goes in which profile), for every URL and request type the tracker uses,
// in the three set-ups a merchant can choose:
//   another site    the collector on its own domain (https://clicktrail.io)
//   subdomain       the collector on a merchant subdomain (https://ct.shop-example.com)
//   first-party     proxied under the merchant's own origin (https://www.shop-example.com/_ct)
// Request types are webRequest's: `script` for tracking.js, `xhr` for fetch() (the wasm and
// every endpoint), `ping` for navigator.sendBeacon (which the tracker must not use: the
// "another site" rows show why). docs/blockers.md records what this measured.
// No browser here: the test runs once, not per engine.
import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { join } from "node:path";
import { FIXTURES, ROOT, UBLOCK_ORIGIN, wasmFile } from "./harness.mjs";

const ADBLOCK = join(FIXTURES, "adblock");
const UBO_ASSETS = join(UBLOCK_ORIGIN, "assets");

const PAGE = "https://www.shop-example.com/checkout?aff=alice";
export const SETUPS = {
  "another site": "https://clicktrail.io",
  subdomain: "https://ct.shop-example.com",
  "first-party": "https://www.shop-example.com/_ct",
};
// browser endpoints; any other /tracking/…/v1 path the built tracker contains
// is added below, so a new endpoint is checked without editing this list.
const BROWSER_ENDPOINTS = ["/tracking/click/v1", "/tracking/conversion/v1", "/tracking/lead/v1",
  "/tracking/external-cid/v1", "/tracking/diagnostic/v1"];

function endpoints() {
  const found = new Set(BROWSER_ENDPOINTS);
  for (const file of ["dist/tracking.js", "dist/clicktrail_bg.wasm"]) {
    const path = join(ROOT, file);
    if (!existsSync(path)) continue;
    for (const m of readFileSync(path, "latin1").matchAll(/\/?tracking\/[a-z-]+\/v1/g)) {
      found.add(m[0].startsWith("/") ? m[0] : `/${m[0]}`);
    }
  }
  return [...found].sort();
}

/** Every request the tracker makes in one set-up: [what, url, type]. */
export function trackerRequests(base) {
  const rows = [
    ["tracking.js", `${base}/tracking.js`, "script"],
    // the content-hashed name tracking.js fetches (any id when the tracker is not built)
    ["wasm fetch", `${base}/${existsSync(join(ROOT, "dist/tracking.js")) ? wasmFile() : "clicktrail_bg.00000000.wasm"}`, "xhr"],
  ];
  for (const path of endpoints()) rows.push([`fetch ${path}`, `${base}${path}`, "xhr"]);
  return rows;
}

let FiltersEngine, Request;
const engines = {};

/** A list of profiles.json: `ubo:PATH` from the installed uBlock Origin's assets, any other
 * path from tests/fixtures/adblock (X.txt or X.txt.gz). A missing list throws: scripts/setup.sh
 * installs the package and the repository holds the rest, so nothing here is optional. */
function listPath(entry) {
  if (entry.startsWith("ubo:")) return join(UBO_ASSETS, entry.slice(4));
  const path = join(ADBLOCK, entry);
  return existsSync(path) ? path : `${path}.gz`;
}

function readList(entry) {
  const path = listPath(entry);
  if (!existsSync(path)) {
    throw new Error(`filter list ${entry} not found at ${path}` + (entry.startsWith("ubo:")
      ? " (Debian's webext-ublock-origin-firefox: run bash scripts/setup.sh)"
      : " (tests/fixtures/adblock is part of the repository)"));
  }
  const bytes = readFileSync(path);
  return (path.endsWith(".gz") ? gunzipSync(bytes) : bytes).toString("utf8");
}

const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** `HASH  PATH` lines of a sha256sum file, as [path, hash]. */
function sums(file) {
  return readFileSync(file, "utf8").trim().split("\n").map((line) => {
    const [hash, path] = line.split(/\s+/);
    return [path, hash];
  });
}

/** The filter(s) that matched: ghostery merges similar filters into one; name the one(s)
 * that match on their own. */
function culprit(result, request) {
  const raw = result.filter && result.filter.rawLine;
  if (!raw) return String(result.filter);
  const parts = raw.split(" <+> ");
  if (parts.length === 1) return raw;
  return parts.filter((line) => FiltersEngine.parse(line, { debug: true }).match(request).match).join(", ");
}

function ask(profile, url, type) {
  const request = Request.fromRawDetails({ url, sourceUrl: PAGE, type });
  const result = engines[profile].match(request);
  const blocked = !!result.match && !result.exception;
  return { blocked, filter: blocked ? culprit(result, request) : null };
}

describe("filter lists (real engine, real lists)", () => {
  let profiles;
  before(async () => {
    ({ FiltersEngine, Request } = await import("@ghostery/adblocker"));
    profiles = JSON.parse(readFileSync(join(ADBLOCK, "profiles.json"), "utf8")).profiles;
    for (const [name, profile] of Object.entries(profiles)) {
      engines[name] = FiltersEngine.parse(profile.lists.map(readList).join("\n"),
        { debug: true, loadCosmeticFilters: false, enableHtmlFiltering: false });
    }
  });

  test("the lists are the ones SOURCES.md names", (t) => {
    // the copies kept in the repository: byte for byte
    for (const [path, hash] of sums(join(FIXTURES, "SHA256SUMS"))) {
      assert.equal(sha256(join(FIXTURES, path)), hash, `tests/fixtures/${path}`);
    }
    // uBO's lists come from the installed package: say whether they are the 1.67.0 ones the
    // results in docs/blockers.md were measured with (a newer package is measured as it is)
    const version = JSON.parse(readFileSync(join(UBLOCK_ORIGIN, "manifest.json"), "utf8")).version;
    const changed = sums(join(ADBLOCK, "ubo-1.67.0.sha256"))
      .filter(([path, hash]) => sha256(join(UBO_ASSETS, path)) !== hash).map(([path]) => path);
    t.diagnostic(`installed uBlock Origin ${version}: ` + (changed.length
      ? `lists differ from 1.67.0's: ${changed.join(", ")}` : "the lists of 1.67.0"));
  });

  test("the engine loaded each profile's lists: known trackers are blocked", () => {
    assert.deepEqual(Object.keys(engines).sort(), ["adguard", "brave", "ubo"]);
    for (const name of Object.keys(engines)) {
      assert.ok(ask(name, "https://www.google-analytics.com/g/collect?v=2", "xhr").blocked, `${name}: GA4 collect`);
      assert.ok(ask(name, "https://www.googletagmanager.com/gtag/js?id=G-X", "script").blocked, `${name}: gtag.js`);
    }
  });

  for (const [setup, base] of Object.entries(SETUPS)) {
    test(`${setup} (${base}): no list blocks the script, the wasm or any endpoint`, () => {
      const blocked = [];
      for (const name of Object.keys(engines)) {
        for (const [what, url, type] of trackerRequests(base)) {
          const r = ask(name, url, type);
          if (r.blocked) blocked.push(`${name}: ${what} ${url} (${type}) <- ${r.filter}`);
        }
      }
      assert.deepEqual(blocked, []);
    });
  }

  test("sendBeacon ('ping') to another site is dropped by uBO and Brave: why the tracker uses fetch keepalive", (t) => {
    const rows = {};
    for (const [setup, base] of Object.entries(SETUPS)) {
      for (const name of Object.keys(engines)) {
        for (const path of endpoints()) {
          const r = ask(name, `${base}${path}`, "ping");
          rows[`${setup}/${name}`] ??= new Set();
          if (r.blocked) rows[`${setup}/${name}`].add(r.filter);
        }
      }
    }
    for (const name of ["ubo", "brave"]) {
      assert.ok(rows[`another site/${name}`].size > 0, `${name} lets a third-party ping through`);
      assert.ok([...rows[`another site/${name}`]].some((f) => /\$ping,third-party|\$ping,3p/.test(f)),
        `${name}: ${[...rows[`another site/${name}`]]}`);
    }
    // Same site (subdomain or proxied): a ping is not dropped by these lists.
    for (const name of Object.keys(engines)) {
      assert.deepEqual([...rows[`subdomain/${name}`]], [], `${name} on the subdomain`);
      assert.deepEqual([...rows[`first-party/${name}`]], [], `${name} first-party`);
    }
    t.diagnostic("ping blocked by: " + JSON.stringify(Object.fromEntries(
      Object.entries(rows).map(([k, v]) => [k, [...v]]))));
  });

  // The host and path words docs/blockers.md warns about: each one is blocked by at least
  // one profile where it is claimed to be, and the recommended names are not.
  const WORDS = [
    // [claim, url] -- the merchant-subdomain set-up, fetch
    ["analytics. subdomain (our own paths)", "https://analytics.shop-example.com/tracking/click/v1"],
    ["analytics. subdomain + /collect", "https://analytics.shop-example.com/collect"],
    ["stats. subdomain + /event", "https://stats.shop-example.com/event"],
    ["collector. subdomain + /event", "https://collector.shop-example.com/event"],
    ["tracking. subdomain + /event", "https://tracking.shop-example.com/event"],
    ["track. subdomain + /collect", "https://track.shop-example.com/collect"],
    ["/api/collect on any host", "https://ct.shop-example.com/api/collect"],
    ["/_tracking/ folder on the merchant origin", "https://www.shop-example.com/_tracking/click/v1"],
  ];
  const SAFE = [
    ["stats. subdomain (our own paths)", "https://stats.shop-example.com/tracking/click/v1"],
    ["collector. subdomain (our own paths)", "https://collector.shop-example.com/tracking/click/v1"],
    ["tracking. subdomain (our own paths)", "https://tracking.shop-example.com/tracking/click/v1"],
    ["ct. subdomain (recommended)", "https://ct.shop-example.com/tracking/click/v1"],
    ["/_ct/ folder (recommended)", "https://www.shop-example.com/_ct/tracking/click/v1"],
  ];

  test("host and path words: the ones docs/blockers.md names are blocked, the recommended ones are not", (t) => {
    const table = [];
    const missing = [];
    for (const [claim, url] of WORDS) {
      const by = Object.keys(engines).map((n) => [n, ask(n, url, "xhr")]).filter(([, r]) => r.blocked);
      table.push(`${claim}: ${by.map(([n, r]) => `${n} <- ${r.filter}`).join("; ") || "not blocked"}`);
      if (!by.length) missing.push(claim);
    }
    const wrongly = [];
    for (const [claim, url] of SAFE) {
      const by = Object.keys(engines).map((n) => [n, ask(n, url, "xhr")]).filter(([, r]) => r.blocked);
      table.push(`${claim}: ${by.map(([n, r]) => `${n} <- ${r.filter}`).join("; ") || "not blocked"}`);
      if (by.length) wrongly.push(claim);
    }
    for (const line of table) t.diagnostic(line);
    assert.deepEqual(missing, [], "docs/blockers.md names these as blocked; no list blocks them any more");
    assert.deepEqual(wrongly, [], "a name the docs recommend or call safe is blocked");
  });
});

