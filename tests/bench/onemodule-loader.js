// clicktrail loader: the only hand-written JavaScript that ships.
//
// Its one job is to get the Rust/WebAssembly tracker running without ever
// bothering the host page: read the <script> tag's options synchronously, start
// the wasm download at once (streaming compile), and hand the options to the
// tracker's `start`. If WebAssembly cannot start it logs ONE console error that
// names the cause and the fix, reports it to the collector, and leaves the
// merchant's command queue (window.trackdesk.q, window.affitorQueue) untouched.
// `initSync` with a module compiled here (streaming), not the glue's async `init`:
// that one brings ~1.1 KB of fallback code and messages (0.4 KB gzip) this loader
// already covers. Instantiating a compiled module synchronously is allowed on the main
// thread (Chrome's limit is for modules over 8 MB).
import { initSync, start } from "../../target/pkg/clicktrail.js";

const GUARD = "__clicktrailLoader";
// The wasm's build id (scripts/build.sh: esbuild --define:CT_BUILD), also the payload of its
// custom section "ct" and part of its content-hashed file name, cached immutable.
/* global CT_BUILD */
const WASM_FILE = "clicktrail_bg." + CT_BUILD + ".wasm";

(function load(w, d) {
  try {
    // Loaded twice (two tags, or a tag manager re-injecting it): the first copy wins.
    if (w[GUARD]) return;
    w[GUARD] = 1;
    const script = d.currentScript || d.querySelector('script[src*="tracking.js"]');
    const config = readConfig(script, w.location);
    const held = config.affitorProgramId ? holdAffitorCalls(w) : [];
    if (config.partnerstack) holdGrowsumo(w, held, config);
    const settleHeld = (error) => held.splice(0).forEach((call) => call(error));
    if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") {
      settleHeld(fail(config, "unsupported", null));
      return;
    }
    // A page's `<link rel="preload" as="fetch" crossorigin href=".../clicktrail_bg[.<id>].wasm">`
    // is used: its URL, fetched as the preload did. A preload of the hash-free name may hold
    // another build's wasm (tracking.js and it are cached apart): its build id is checked and
    // on a mismatch (or any failure) the hashed file of this build is fetched instead.
    const hashed = config.wasmUrl;
    const link = d.querySelector('link[rel~="preload"][href*="clicktrail_bg"]');
    const first = (link && link.href) || hashed;
    let wasm = loadWasm(first);
    if (first !== hashed) {
      wasm = wasm
        .then((module) => {
          if (buildOf(module) !== CT_BUILD) throw 0; // another build: fetch this one's
          return module;
        })
        .catch(() => loadWasm(hashed));
    }
    wasm
      .then((module) => {
        initSync({ module });
        start(config);
        settleHeld(null);
      })
      .catch((error) => settleHeld(fail(config, classify(error), error)));
  } catch (error) {
    // Nothing here may reach the page; this is the last line of defence.
    try {
      console.error("clicktrail: the tracker could not start:", error);
    } catch (_) {
      /* console unavailable */
    }
  }
})(window, document);

/**
 * Affitor's tag is synchronous and its docs call `await window.affitor.signup(...)` in
 * the very next script, long before the wasm has started. Until the tracker replaces
 * it, `window.affitor` holds such calls; each settles through the real tracker once it
 * runs, or rejects with the start-up error. Returns the list of pending settlers.
 */
function holdAffitorCalls(w) {
  const held = [];
  if (w.affitor) return held;
  const later = (method) => (...args) =>
    new Promise((resolve, reject) =>
      held.push((startError) => {
        if (startError) return reject(startError);
        if (w.affitor === stub) return reject(new Error("clicktrail: Affitor mode did not start"));
        try {
          Promise.resolve(w.affitor[method](...args)).then(resolve, reject);
        } catch (error) {
          reject(error);
        }
      }),
    );
  const stub = {
    signup: later("signup"),
    trackClick: later("trackClick"),
    getClickId: () => {
      const hit = /(?:^|; )affitor_click_id=([0-9a-f-]{36})(?:;|$)/.exec(document.cookie);
      return hit ? hit[1] : null;
    },
  };
  w.affitor = stub;
  return held;
}

/**
 * PartnerStack mode: `window.growsumo`. The snippet calls
 * `growsumo._initialize(key)` in the script's onload (the key is ignored: the tenant is in the
 * script's src), and the page `growsumo.createSignup(callback)` after a sign-up, maybe before
 * the wasm has started. `createSignup` reads `growsumo.data` at once (`customer_key`, else
 * `email`, as PartnerStack does; `name` has no place in a lead) and sends the lead as the
 * tracker's `signup` command (keyless leads allowed for this tenant), held until the tracker
 * has started. The callback is called exactly once: when the collector has acknowledged the
 * lead, or after 3 s (collector down or slow: the lead stays in the outbox), or at once when
 * there is nothing to send or the tracker cannot start: a sign-up flow that redirects in it
 * must never hang. What it throws is swallowed. (Here rather than in the wasm: 0.7 KB gzip
 * less in total, docs/tracker.md.)
 */
function holdGrowsumo(w, held, config) {
  try {
    const g = w.growsumo || (w.growsumo = {});
    if (typeof g.createSignup == "function") return; // someone else's
    let track; // undefined until start-up settled; then the tracker's dispatcher, or false
    held.push((error) => {
      track = false;
      try {
        track = (!error && w.TrackdeskObject.f) || false;
        // the partner key of the tracker's cookie (this page's link or an earlier one)
        const key = /(?:^|; )growSumoPartnerKey=([^;]*)/.exec(document.cookie);
        if (key) g.data.partner_key = g.data.ps_partner_key = decodeURIComponent(key[1]);
      } catch (_) {
        /* no partner key */
      }
    });
    g.createSignup = (cb) => {
      const done = once(cb);
      try {
        const data = g.data;
        const key = data.customer_key || data.email;
        const email = data.email;
        // the dispatcher never throws; without a key it logs the skipped signup (debug)
        const run = () => (track && key ? track(config.partnerstack, "signup", { customerKey: key, email }, done) : done());
        track === undefined ? held.push(run) : run();
      } catch (_) {
        done();
      }
    };
    g._initialize = g.initialize = (key) => {
      if (config.debug) console.log("[clicktrail] growsumo: key ignored", key);
    };
    g.data = g.data || {};
  } catch (_) {
    /* a frozen or hostile growsumo: left alone */
  }
}

/** `cb()` once: at the first call of the result or after 3 s; what it throws is swallowed. */
function once(cb) {
  let t = setTimeout(done, 3000);
  function done() {
    if (t) {
      clearTimeout(t);
      t = 0;
      try {
        cb();
      } catch (_) {
        /* never into the page */
      }
    }
  }
  return done;
}

/** Fetches and compiles the wasm. `{mode: "cors", credentials: "same-origin"}` is the request
 * a `<link rel="preload" as="fetch" crossorigin>` (anonymous) makes, so the browser hands
 * over the preloaded response instead of downloading the wasm twice. */
function loadWasm(url) {
  return fetch(url, { mode: "cors", credentials: "same-origin" })
    .then(
      (response) => {
        if (!response.ok) throw networkError("HTTP " + response.status);
        return response;
      },
      (error) => {
        throw networkError(String(error && error.message));
      },
    )
    .then(compile);
}

/** The build id a wasm carries in its custom section "ct" ("" when it has none). */
function buildOf(module) {
  const section = WebAssembly.Module.customSections(module, "ct")[0];
  return section ? String.fromCharCode.apply(null, new Uint8Array(section)) : "";
}

/** Streaming compile; when the server sends another Content-Type than application/wasm
 * (or the browser has no compileStreaming) the buffered compile, as wasm-bindgen's own
 * loader does (the MIME check rejects before the body is read). */
function compile(response) {
  return Promise.resolve()
    .then(() => WebAssembly.compileStreaming(response))
    .catch((error) => {
      if (WebAssembly.compileStreaming && response.headers.get("Content-Type") === "application/wasm") {
        throw error;
      }
      return response.arrayBuffer().then((bytes) => WebAssembly.compile(bytes));
    });
}

/** Reads the documented data-* options of our own <script> tag. The tracker's `start`
 * validates every value itself (a comma list for `params`, `"first"`, `"required"`,
 * `"links"`; anything else is the default), so they are handed over as written. */
function readConfig(script, location) {
  const attr = (name) => (script && script.getAttribute(name)) || null;
  const src = (script && script.src) || location.href;
  const base = new URL(src, location.href);
  const endpoint = attr("data-endpoint");
  const ps = attr("data-partnerstack") || base.searchParams.get("partnerstack");
  return {
    // Default: the folder the script was loaded from (first-party mode:
    // https://shop.example/_ct/tracking.js -> https://shop.example/_ct), which is the
    // collector's origin when the script comes from the collector itself. Normalised by
    // URL so the tracker can compare its origin with the page's.
    endpoint: stripQuery(new URL(endpoint || "./", endpoint ? location.href : base).href).replace(/\/+$/, ""),
    // this build's wasm beside the script, whatever the script's file name
    wasmUrl: new URL(WASM_FILE, base).href,
    params: attr("data-param"),
    cookieDomain: attr("data-cookie-domain"),
    attribution: attr("data-attribution"),
    debug: attr("data-debug") === "true" || attr("data-affitor-debug") === "true",
    affitorProgramId: attr("data-affitor-program-id"),
    // PartnerStack mode: its snippet creates the script from JS (no data-* attributes), so
    // `tracking.js?partnerstack=TENANT` in the src, or data-partnerstack on a static tag
    // (a tenant id as the tracker accepts it; null tests as "null" and stays null)
    partnerstack: /^[\w.-]{1,64}$/.test(ps) ? ps : null,
    consent: attr("data-consent"),
    stripe: attr("data-stripe"),
  };
}

function stripQuery(url) {
  return url.replace(/[?#].*$/, "");
}

function networkError(detail) {
  const error = new Error(detail);
  error.clicktrailNetwork = true;
  return error;
}

/** Maps a start-up failure to one of the diagnostic kinds of docs/wire.md. */
function classify(error) {
  if (error && error.clicktrailNetwork) return "network";
  const text = String(error && error.message);
  // Chromium/WebKit: "…Content Security Policy…'unsafe-eval'…"; Firefox: "call to
  // WebAssembly.compileStreaming() blocked by CSP"
  if (/Content Security Policy|unsafe-eval|wasm-eval|blocked by CSP/i.test(text)) return "csp";
  return "init";
}

const FIXES = {
  csp:
    "the page's Content-Security-Policy blocks WebAssembly. Fix: add 'wasm-unsafe-eval' to script-src, " +
    "e.g. script-src 'self' 'wasm-unsafe-eval' <collector origin>.",
  network:
    "the tracker's WebAssembly file could not be downloaded. Fix: serve clicktrail_bg.*.wasm next to " +
    "tracking.js (Content-Type application/wasm) and allow its origin in connect-src.",
  unsupported: "this browser has no WebAssembly support.",
  init: "the WebAssembly tracker failed to start.",
};

/**
 * One console error, one diagnostic report (none while consent is required); queued
 * commands stay queued.
 * Returns the Error that held calls reject with.
 */
function fail(config, kind, error) {
  const detail = error ? String(error.message || error) : "";
  const reason = new Error("clicktrail: tracking is unavailable: " + FIXES[kind]);
  try {
    console.error(
      "clicktrail: affiliate tracking is OFF on this page: " + FIXES[kind] +
        " Queued tracking calls are kept." + (detail ? " (" + detail + ")" : ""),
    );
  } catch (_) {
    /* console unavailable */
  }
  // data-consent="required": send nothing before consent, not even this report (it
  // carries the page URL).
  if (config.consent === "required") return reason;
  try {
    const body = JSON.stringify({
      tenantId: config.affitorProgramId || config.partnerstack || queuedTenant(),
      kind,
      message: detail.slice(0, 500),
      url: String(location.href).slice(0, 2048),
      userAgent: String(navigator.userAgent).slice(0, 300),
    });
    // fetch keepalive, never sendBeacon: blockers drop beacons to another site while
    // sendBeacon still returns true.
    fetch(config.endpoint + "/tracking/diagnostic/v1", {
      method: "POST",
      body,
      keepalive: true,
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
    }).catch(() => {});
  } catch (_) {
    /* reporting is best effort */
  }
  return reason;
}

/** The tenant id of the first queued Trackdesk call, for the diagnostic. */
function queuedTenant() {
  try {
    const names = window.TrackdeskObject || ["trackdesk"];
    const queue = window[names[0]] && window[names[0]].q;
    const tenant = queue && queue[0] && queue[0][0];
    return typeof tenant === "string" ? tenant.slice(0, 128) : null;
  } catch (_) {
    return null;
  }
}
