// clicktrail's second script, clicktrail_full.<id>.js (docs/tracker.md, "Two modules"): the
// full module's wasm-bindgen glue and its start-up (download, preload check, compile, `start`,
// the start-up failure report). The loader (js/loader.js) adds it after the cookie (idle
// time), or at once when the page needs the full module. <id> is the full module's build id:
// this glue and that wasm are one build (one per page mode, scripts/build.sh).
//
// The loader hands over through `window.__clicktrailLoader`: `c` the config (with `click`, the
// click module's POST in flight, for `transport::adopt`), `s` the settler of the calls the
// loader held (Affitor, PartnerStack, the dispatcher's helpers), `p` its
// `growsumo.createSignup` stub, `o` its `once`. Started once (`g` marks it).
import { initSync, start } from "../target/pkg/clicktrail.js";

/* global CT_BUILD, CT_PARTNERSTACK */
(function (w, d) {
  try {
    const h = w.__clicktrailLoader;
    if (!h || !h.c || h.g) return;
    h.g = 1;
    const config = h.c;
    if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") {
      h.s(fail(config, "unsupported", null));
      return;
    }
    startFull(w, d, config, h);
  } catch (error) {
    try {
      console.error("clicktrail: the tracker could not start:", error);
    } catch (_) {
      /* console unavailable */
    }
  }
})(window, document);

/** `performance.mark` for the benchmark's breakdown (docs/benchmarks.md). */
function mark(name) {
  try {
    performance.mark(name);
  } catch (_) {
    /* no User Timing */
  }
}

/** Downloads, compiles and starts the full tracker (the wasm-bindgen module). */
function startFull(w, d, config, h) {
  mark("ct:full");
  try {
    // A page's `<link rel="preload" as="fetch" crossorigin href=".../clicktrail_bg[.<id>].wasm">`
    // is used: its URL, fetched as the preload did. A preload of the hash-free name may hold
    // another build's wasm (tracking.js and it are cached apart): its build id is checked and
    // on a mismatch (or any failure) the hashed file of this build is fetched instead.
    // this build's wasm, beside this script
    const hashed = new URL("clicktrail_bg." + CT_BUILD + ".wasm", config.fullUrl).href;
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
        mark("ct:full-init");
        initSync({ module });
        start(config);
        mark("ct:full-started");
        if (CT_PARTNERSTACK) growsumo(w, config, h);
        h.s(null);
      })
      .catch((error) => h.s(fail(config, classify(error), error)));
  } catch (error) {
    try {
      console.error("clicktrail: the tracker could not start:", error);
    } catch (_) {
      /* console unavailable */
    }
  }
}

/**
 * PartnerStack mode: `growsumo.createSignup` in place of the loader's stub (`h.p`; a page's
 * own is left alone), and the partner key of the tracker's cookie (this page's link or an
 * earlier one) in `growsumo.data`. `createSignup(callback)` reads `growsumo.data` at the call
 * (the loader passes its copy from the call's time): `customer_key`, else `email`, as
 * PartnerStack does (`name` has no place in a lead), and sends the lead as the dispatcher's
 * `signup` (keyless leads allowed for this tenant). The callback is called exactly once
 * (`h.o`): when the collector has acknowledged the lead, or after 3 s (collector down or slow:
 * the lead stays in the outbox), or at once when there is nothing to send. (JavaScript rather
 * than wasm: 0.7 KB gzip less in total, docs/tracker.md.)
 */
function growsumo(w, config, h) {
  try {
    const g = w.growsumo;
    if (!h.p || g.createSignup !== h.p) return;
    const track = w.TrackdeskObject.f;
    const key = /(?:^|; )growSumoPartnerKey=([^;]*)/.exec(document.cookie);
    if (key) g.data.partner_key = g.data.ps_partner_key = decodeURIComponent(key[1]);
    g.createSignup = (cb, data = g.data) => {
      const done = h.o(cb);
      try {
        const key = data.customer_key || data.email;
        // the dispatcher never throws; without a key it logs the skipped signup (debug)
        key ? track(config.partnerstack, "signup", { customerKey: key, email: data.email }, done) : done();
      } catch (_) {
        done();
      }
    };
  } catch (_) {
    /* a frozen or hostile growsumo: left alone */
  }
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
