// clicktrail loader: tracking.js, the critical path (docs/tracker.md, "Two modules").
//
// Only what runs before the cookie: the options, the click module (inlined as hex; the
// measured variant fetches clicktrail_click.<hash>.wasm beside this script) with its two
// imports, the stubs Affitor and PartnerStack pages call synchronously, and the watch for
// what needs more. The full module's wasm-bindgen glue and its start-up (download, compile,
// `start`, the failure report) are a second script, clicktrail_full.<id>.js (js/full.js),
// which this loader adds when the page needs the full module (docs/tracker.md, "When the
// full module starts"). It never throws into the page and leaves the
// merchant's command queue (window.trackdesk.q, window.affitorQueue) in order for the full
// module's replay.

const GUARD = "__clicktrailLoader";
// the page's queued conversions and sign-ups, kept for the next page (`keepQueue`)
const KEPT = "clicktrail_queue";
// The build ids of the full modules, one per page mode (scripts/build.sh): T Trackdesk, A
// Affitor, P PartnerStack, X both. An id names the module's wasm (clicktrail_bg.<id>.wasm)
// and the script with its glue (clicktrail_full.<id>.js), both cached immutable.
/* global CT_BUILD_T, CT_BUILD_A, CT_BUILD_P, CT_BUILD_X, CT_CLICK, CT_CLICK_FILE */

(function load(w, d) {
  try {
    // Loaded twice (two tags, or a tag manager re-injecting it): the first copy wins.
    if (w[GUARD]) return;
    const script = d.currentScript || d.querySelector('script[src*="tracking.js"]');
    const config = readConfig(script, w.location);
    // calls the page makes before the full module runs (Affitor's, PartnerStack's, the
    // dispatcher's helpers): each settles when it has started, or when it failed to
    const held = [];
    // a Promise of `call()` once the full module has started, or of its start-up error
    const hold = (call) =>
      new Promise((resolve, reject) =>
        held.push((error) => (error ? reject(error) : Promise.resolve().then(call).then(resolve, reject))),
      );
    // the hand-over to the second script: `c` the config, `s` the settler of held calls, `p`
    // the loader's growsumo.createSignup (the second script replaces it), `o` = `once`
    const h = (w[GUARD] = { c: config, s: (error) => held.splice(0).forEach((call) => call(error)), o: once });
    const go = once0(() => startFull(d, config, h, go.r));
    go.p = hold;
    const take = keepQueue(w, config.consent === "required");
    const mode = config.affitorProgramId || config.partnerstack;
    if (config.affitorProgramId) holdAffitorCalls(w, hold, go);
    if (config.partnerstack) h.p = holdGrowsumo(w, held);
    // The click module (CT_CLICK: its wasm inlined as hex; CT_CLICK_FILE instead: fetched
    // beside the script, the measured variant): the landing's cookie and click before the full
    // module, which then starts when the page needs it (`after`). It knows the Trackdesk
    // snippet only: an Affitor or PartnerStack page starts the full module at once.
    if (typeof WebAssembly == "object" && !mode && config.consent !== "required") {
      // after the click module's click (1), or on a page without a code where the visitor
      // holds nothing (3) or a cookie and nothing to send (5), the full module waits until the
      // page needs it (`whenNeeded`); otherwise it starts in idle time (0), at once (2: in the
      // task after the click module's, which sends its click), or as the page's first call
      // decides (4: nothing queued yet, `own`)
      const after = (done) => {
        try {
          if (done == 2) setTimeout(go);
          else if (done & 1 && config.stripe !== "links") whenNeeded(w, d, done, config, go);
          else if (done != 4) (w.requestIdleCallback || setTimeout)(go, { timeout: 2000 });
        } catch (_) {
          go(); // a page that breaks the watch (a frozen `history`): the full tracker now
        }
      };
      // compiled off the main thread either way: inline, only the hex decode is ours (the
      // browser's `Uint8Array.fromHex`; else digit by digit, `(c & 15) + (c >> 6) * 9` being
      // the value of 0-9 and a-f: 9 ms at 4x CPU)
      (CT_CLICK ? WebAssembly.compile(hexBytes(CT_CLICK)) : WebAssembly.compileStreaming(fetch(new URL(CT_CLICK_FILE, config.fullUrl))))
        .then(
          (m) => {
            take();
            after(clickFirst(w, d, config, m, go, after));
          },
          () => {
            take();
            after(2);
          },
        );
      return;
    }
    take();
    // Affitor, PartnerStack, consent required: the full module does it all; no WebAssembly:
    // the second script reports it
    go();
  } catch (error) {
    // Nothing here may reach the page; this is the last line of defence.
    try {
      console.error("clicktrail: the tracker could not start:", error);
    } catch (_) {
      /* console unavailable */
    }
  }
})(window, document);

/** Adds the second script (the full module's glue and start-up; it reads `h`). When it cannot
 * be downloaded: one console error, the held calls rejected, queued commands kept, and the
 * page's next call tries again (`again`). */
function startFull(d, config, h, again) {
  mark("ct:full");
  try {
    const s = d.createElement("script");
    s.src = config.fullUrl;
    s.onerror = () => {
      const why = s.src + " could not be downloaded.";
      const error = new Error("clicktrail: tracking is unavailable: " + why);
      try {
        console.error("clicktrail: affiliate tracking is OFF on this page: " + why + " Queued tracking calls are kept.");
      } catch (_) {
        /* console unavailable */
      }
      h.s(error);
      s.remove();
      again();
    };
    (d.head || d.documentElement).appendChild(s);
  } catch (_) {
    /* never into the page */
  }
}

/**
 * A page without a code where the visitor holds nothing (`done` 3) or a cookie and nothing to
 * send (5), or a landing whose click the click module sent (1; `sent`, the hand-over), needs
 * the full module only for what the click module leaves undone. `go` starts it: at the page's
 * next call (`own`); when the page moves to another URL that the click module does not leave
 * waiting (a single-page app: a code is a new click); when the page holds a CID field
 * (`trakdesk_cid` inputs, `data-trackdesk-cid`), now or later, and the visitor a CID (1, 5);
 * and on a landing when
 * - the click's answer is not the one the cookie already holds (its CID, its expiry within a
 *   day: a tenant whose cookie lifetime is not the default), or it did not come (a retry), or
 *   it refused the click (an unknown affiliate's cookie is removed).
 * Otherwise the click stays in the outbox until a later page's full module, which re-sends it
 * (the collector keeps one) and writes the localStorage mirror from its answer.
 */
function whenNeeded(w, d, done, config, go) {
  const sent = config.click;
  let fields;
  const field = () => d.querySelector('input[name="trakdesk_cid"],[data-trackdesk-cid]') && start();
  const start = () => {
    if (fields) fields.disconnect();
    go();
  };
  const here = () => location.href.split("#")[0];
  let href = here();
  // a move to another URL: the click module decides on it (`check`); a code (2), events to
  // send or a cookie to restore (0) start the full module, which counts the move; no code and
  // nothing to send (3, 5) leave it waiting
  const moved = () => {
    try {
      if (here() == href) return;
      href = here();
      if (config.check() & 1) return;
    } catch (_) {
      /* the full module decides */
    }
    start();
  };
  if (done != 3) {
    fields = new MutationObserver(field);
    fields.observe(d, { childList: true, subtree: true });
    field();
  }
  if (done == 1) {
    // the POST leaves in the task after the cookie's (`runClick`), as this timer's
    new Promise((r) => setTimeout(r))
      .then(() => sent.done)
      .then((r) => r.ok && r.clone().json())
      .then((a) => {
        mark("ct:answer");
        if (!(a && a.cid === sent.cid && Math.abs(Date.parse(a.expiredAt) / 1e3 - sent.exp) < 864e2)) start();
      })
      .catch(start);
  }
  for (const k of ["pushState", "replaceState"]) {
    const f = w.history[k];
    w.history[k] = function () {
      try {
        return f.apply(this, arguments);
      } finally {
        moved();
      }
    };
  }
  w.addEventListener("popstate", moved);
}

/**
 * Conversions and sign-ups the page gave before the full module took its queue survive the
 * page: left first (its second script could not be downloaded, or had not arrived), the page
 * keeps them in localStorage (`KEPT`; their callbacks are not kept, at most the last 20), and
 * the next page's loader puts them first in its own queue (the returned function, called in
 * the task that first reads the queue, so that storage is not opened earlier), so its full
 * module sends them (and starts at once). A page restored from the back-forward cache still
 * holds its queue: it takes back what it kept. Nothing is kept on a page that asks for
 * consent (`consent`): no storage before it.
 */
function keepQueue(w, consent) {
  const name = (w.TrackdeskObject || ["trackdesk"])[0];
  let before;
  if (!consent) {
    w.addEventListener("pagehide", () => {
      try {
        const f = w[name];
        const mine = [];
        if (f && !f.__clicktrail) {
          for (const a of f.q || []) {
            try {
              if (a[1] == "conversion" || a[1] == "signup") mine.push(JSON.stringify([a[0], a[1], a[2]]));
            } catch (_) {
              /* not JSON: not kept */
            }
          }
        }
        if (!mine.length) return;
        before = w.localStorage.getItem(KEPT);
        w.localStorage.setItem(KEPT, "[" + (before ? before.slice(1, -1) + "," : "") + mine + "]");
      } catch (_) {
        /* storage unavailable */
      }
    });
    w.addEventListener("pageshow", (e) => {
      try {
        if (e.persisted && before !== undefined) before == null ? w.localStorage.removeItem(KEPT) : w.localStorage.setItem(KEPT, before);
        before = undefined;
      } catch (_) {
        /* storage unavailable */
      }
    });
  }
  let taken;
  return () => {
    try {
      if (taken) return;
      taken = 1;
      const raw = w.localStorage.getItem(KEPT);
      if (!raw) return;
      w.localStorage.removeItem(KEPT);
      const kept = JSON.parse(raw);
      if (!Array.isArray(kept)) return;
      // the snippet's stub, made here when the page's snippet has not run yet (it keeps ours)
      const stub = w[name] || (w[name] = function () {
        (stub.q = stub.q || []).push(arguments);
      });
      if (typeof stub == "function") (stub.q = stub.q || []).unshift(...kept.filter(Array.isArray).slice(-20));
    } catch (_) {
      /* storage unavailable, malformed: nothing taken */
    }
  };
}

/** The bytes of hex text `s`. */
function hexBytes(s) {
  if (Uint8Array.fromHex) return Uint8Array.fromHex(s);
  const bytes = new Uint8Array(s.length / 2);
  for (let i = 0, c; i < s.length; i++) {
    c = s.charCodeAt(i);
    bytes[i >> 1] = (bytes[i >> 1] << 4) | ((c & 15) + (c >> 6) * 9);
  }
  return bytes;
}

/** `performance.mark` for the benchmark's breakdown (docs/benchmarks.md). */
function mark(name) {
  try {
    performance.mark(name);
  } catch (_) {
    /* no User Timing */
  }
}

/** `f` runs at most once, whoever calls first, until `r()` allows one more run. */
function once0(f) {
  let done = 0;
  const run = () => done++ || f();
  run.r = () => (done = 0);
  return run;
}

/**
 * Our stub in place of the snippet's (`name`, its queue `q` kept in order, the dispatcher's
 * helpers on it): the page's next call starts the full tracker at once (the call itself stays
 * queued for the tracker's replay), except that with `run` (nothing queued yet: this script
 * ran before the page's snippet calls) a first `click` is the click module's (`run(tenant,
 * callbacks)`, as `clickFirst`), and `after` starts the full tracker as its answer says.
 */
function own(w, name, q, go, run, after) {
  const f = function (t, c, p, cb) {
    try {
      if (run && !f.q.length && c === "click") {
        const click = run;
        run = 0;
        const g = typeof p == "function" ? p : cb;
        const done = click(t, typeof g == "function" ? [g] : []);
        // the click module's click is done; any other stays queued for the full tracker, which
        // starts as after a queued click (`after`)
        if (done != 1) f.q.push(arguments);
        after(done);
        return;
      }
      f.q.push(arguments);
    } catch (_) {
      /* never into the page */
    }
    run = 0;
    go();
  };
  f.q = q;
  w[name] = withHelpers(f, w, go);
}

/**
 * The dispatcher's helpers on the stub, until the full module replaces it (a `click` callback
 * runs before then): `getCid()` reads the cookie the click module wrote; `signup(...)` starts
 * the full module and settles through its own `signup`, or rejects with its start-up error.
 */
function withHelpers(f, w, go) {
  f.getCid = () => {
    const m = /(?:^|; )trakdesk_cid=[^;]*"cid":"([0-9a-f-]{36})"/.exec(document.cookie);
    return m ? m[1] : null;
  };
  f.signup = (...args) => {
    // a reference kept from before the full module started: it has started since
    const p = (w.TrackdeskObject || {}).f ? Promise.resolve().then(call) : go.p(call);
    go();
    return p;
    function call() {
      return w.TrackdeskObject.f.signup(...args);
    }
  };
  return f;
}

/**
 * The click module (`module`, compiled), given the page's state in one string and two imports
 * (a read, the effects). It handles the leading `click` calls of the queue on a landing with a
 * code and no cookie; when nothing is queued yet (this script ran before the page's snippet
 * calls), the page's first call decides: a `click` runs here, anything else starts the full
 * tracker (`own`). Returns the module's answer: 0 the full tracker in idle time, 1 clicked,
 * 2 the full tracker now (also on any failure, and when other commands are queued behind the
 * clicks), 3 nothing held and no code, 5 no code and a cookie held, nothing to send (then, and
 * after a click, the full tracker waits for a need: `whenNeeded`); or 4, nothing queued yet.
 */
function clickFirst(w, d, config, module, go, after) {
  try {
    const name = (w.TrackdeskObject || ["trackdesk"])[0];
    const stub = w[name];
    const q = (stub && stub.q) || [];
    let n = 0;
    let done = 0;
    const cbs = [];
    const tenant = q[0] && q[0][0];
    const run = (t, cbs) => runClick(w, d, config, module, t, cbs);
    while (q[n] && q[n][0] === tenant && q[n][1] === "click") {
      const a = q[n++];
      const cb = typeof a[2] == "function" ? a[2] : a[3];
      if (typeof cb == "function") cbs.push(cb);
    }
    if (n) {
      done = run(tenant, cbs);
      if (done == 1) q.splice(0, n);
      // commands queued behind the clicks: the full tracker now
      if (q.length > (done == 1 ? 0 : n)) return 2;
    } else if (q.length || (stub != null && typeof stub != "function")) return 2;
    // a page object we do not own (not a function, or already a dispatcher) keeps the idle start
    if (done != 2 && (stub == null || (typeof stub == "function" && !stub.__clicktrail))) {
      own(w, name, q, go, !n && run, after);
      if (!n) return 4; // nothing queued yet: the page's first call decides
    }
    return done;
  } catch (_) {
    return 2; // the full tracker does it all
  }
}

/** Runs the click module for `tenant`'s leading click calls (callbacks `cbs`): as
 * `clickFirst`; a trap (a panic) or any error is 2. With `check`, it only decides on the
 * page's URL now (a single-page app's move, `whenNeeded`): a code is 2, and nothing is
 * written or sent (`check` 1; undefined is 0 to the module). */
function runClick(w, d, config, module, tenant, cbs, check) {
  try {
    if (typeof tenant != "string") return 2;
    let x; // the instance's exports
    const enc = new TextEncoder();
    // `s` into one of the module's fixed buffers (`at`: `b` the state, `q` an answer), which
    // gives no room (null) when `s` may not fit: a page that large is the full module's
    const put = (s, at) => {
      const p = at(s.length * 3);
      if (!p) throw 0;
      return enc.encodeInto(s, new Uint8Array(x.memory.buffer, p, s.length * 3)).written;
    };
    const text = (p, len) => new TextDecoder().decode(new Uint8Array(x.memory.buffer, p, len));
    const store = (what) => (what == 1 ? w.localStorage : w.sessionStorage);
    const sent = {};
    /** One effect of the click module (op, a, b). */
    const effect = (op, a, b) => {
      try {
        if (op == "c") d.cookie = a;
        else if (op == "o") {
          // the click's outbox entry (tracker-core's format, made in the module), added
          // to the stored list before the POST: the full tracker retries it if the POST
          // is not acknowledged, on this page or a later one
          let list;
          try {
            list = JSON.parse(w.localStorage.getItem(a));
          } catch (_) {
            /* malformed: the full tracker would skip it too */
          }
          w.localStorage.setItem(a, JSON.stringify((Array.isArray(list) ? list : []).concat(JSON.parse(b))));
        } else if (op == "p") {
          // the fetch promise itself: the full tracker reads its answer (http::answer)
          // (a string body is sent as text/plain;charset=UTF-8: no preflight)
          sent.done = fetch(a, { method: "POST", body: b, keepalive: true });
          sent.done.catch(() => {}); // a network error is the full tracker's (a retry)
          sent.body = b;
          sent.tenant = tenant;
          sent.href = location.href;
        } else if (op == "k") {
          sent.cid = a;
          sent.exp = +b;
          cbs.forEach((cb) => {
            try {
              // the expiry (Unix seconds, from the module) as RFC 3339 without a fraction,
              // the format of the full module's `expiredAt`
              cb({ cid: a, expiredAt: new Date(b * 1e3).toISOString().slice(0, 19) + "Z" });
            } catch (_) {
              /* never into the page */
            }
          });
        } else if (op == "h") {
          sent.id = a;
          sent.created = +b;
        } else w.sessionStorage.setItem(a, b); // `s`: the landing counted
      } catch (_) {
        /* storage unavailable: the full tracker's outbox and mirror take over */
      }
    };
    const imports = {
      c: {
        g(what, p, len) {
          try {
            const key = text(p, len);
            let v;
            if (what == 3) {
              d.cookie = key;
              v = d.cookie;
            } else v = store(what).getItem(key);
            // storage: presence is the answer; a probe: `document.cookie`, for the module to read
            return v == null ? -1 : what == 3 ? put(v, x.q) : 0;
          } catch (_) {
            return -1;
          }
        },
        a(p, len) {
          mark("ct:apply");
          const f = text(p, len).split("\0");
          const later = [];
          for (let i = 0; i + 2 < f.length; i += 3) {
            const [op, a, b] = [f[i], f[i + 1], f[i + 2]];
            // The cookie, the callbacks and the hand-over's id now; the outbox entry, the
            // request and the landing mark in a task of their own right after, in that order
            // (storage can take tens of ms at 4x CPU: one task under 50 ms)
            op == "c" || op == "k" || op == "h" ? effect(op, a, b) : later.push([op, a, b]);
          }
          // once: the timer, or the page's `pagehide` if it comes first
          const flush = () => later.splice(0).forEach((e) => effect(...e));
          setTimeout(flush);
          w.addEventListener("pagehide", flush);
        },
      },
    };
    x = new WebAssembly.Instance(module, imports).exports;
    mark("ct:run");
    // the page's state pre-split with what the browser has: the host, the first-party flag
    // (the endpoint's origin is the page's), 32 random bytes written into the module
    crypto.getRandomValues(new Uint8Array(x.memory.buffer, x.n(), 32));
    const state = [tenant, config.params || "", config.cookieDomain || "",
      config.endpoint, location.href, d.referrer, d.cookie, location.hostname].join("\0");
    const done = x.r(put(state, x.b), Date.now(), +(new URL(config.endpoint).origin == location.origin), check);
    mark("ct:ran");
    // the hand-over: the full tracker adopts the click in flight (its answer, its retries)
    if (done == 1) config.click = sent;
    config.check = () => runClick(w, d, config, module, tenant, [], 1);
    // a returning visitor's page whose click has a callback: the full tracker gives it the CID
    // (with the mirror's expiry), in idle time
    return done == 5 && cbs.length ? 0 : done;
  } catch (_) {
    return 2; // a trap (panic) or no WebAssembly: the full tracker does it all
  }
}

/**
 * Affitor's tag is synchronous and its docs call `await window.affitor.signup(...)` in
 * the very next script, long before the wasm has started. Until the tracker replaces
 * it, `window.affitor` holds such calls (`hold`); each settles through the real tracker
 * once it runs, or rejects with the start-up error. A call starts the full module (`go`:
 * again, after a second script that could not be downloaded).
 */
function holdAffitorCalls(w, hold, go) {
  if (w.affitor) return;
  const later = (method) => (...args) => {
    go();
    return hold(() => {
      if (w.affitor === stub) throw new Error("clicktrail: Affitor mode did not start");
      return w.affitor[method](...args);
    });
  };
  const stub = {
    signup: later("signup"),
    trackClick: later("trackClick"),
    getClickId: () => {
      const hit = /(?:^|; )affitor_click_id=([0-9a-f-]{36})(?:;|$)/.exec(document.cookie);
      return hit ? hit[1] : null;
    },
  };
  w.affitor = stub;
}

/**
 * PartnerStack mode: `window.growsumo`. The snippet calls `growsumo._initialize(key)` in the
 * script's onload (the key is ignored: the tenant is in the script's src), and the page
 * `growsumo.createSignup(callback)` after a sign-up, maybe before the full module has started.
 * Until then such a call waits in `held` with a copy of `growsumo.data` as it was at the call;
 * the second script (js/full.js) replaces `createSignup` and sends the held ones. The callback
 * is called exactly once, at the latest after 3 s (`once`), and at once when the full module
 * could not start: a sign-up flow that redirects in it must never hang. Returns the stub (or
 * undefined: the page's own `createSignup` is left alone).
 */
function holdGrowsumo(w, held) {
  try {
    const g = w.growsumo || (w.growsumo = {});
    if (typeof g.createSignup == "function") return;
    g._initialize = g.initialize = () => {};
    g.data = g.data || {};
    let failed; // the start-up's error, once it settled
    held.push((error) => (failed = error));
    const stub = (g.createSignup = (cb) => {
      const done = once(cb);
      try {
        if (failed) return done();
        const data = Object.assign({}, g.data);
        held.push((error) => (error || g.createSignup === stub ? done() : g.createSignup(done, data)));
      } catch (_) {
        done();
      }
    });
    return stub;
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

/** Reads the documented data-* options of our own <script> tag. The tracker's `start`
 * validates every value itself (a comma list for `params`, `"first"`, `"required"`,
 * `"links"`; anything else is the default), so they are handed over as written. */
function readConfig(script, location) {
  const attr = (name) => (script && script.getAttribute(name)) || null;
  const src = (script && script.src) || location.href;
  const base = new URL(src, location.href);
  const endpoint = attr("data-endpoint");
  const ps = attr("data-partnerstack") || base.searchParams.get("partnerstack");
  // PartnerStack mode: its snippet creates the script from JS (no data-* attributes), so
  // `tracking.js?partnerstack=TENANT` in the src, or data-partnerstack on a static tag
  // (a tenant id as the tracker accepts it; null tests as "null" and stays null)
  const partnerstack = /^[\w.-]{1,64}$/.test(ps) ? ps : null;
  const affitorProgramId = attr("data-affitor-program-id");
  // the full module with this page's mode and no other's, beside the script
  const id = affitorProgramId ? (partnerstack ? CT_BUILD_X : CT_BUILD_A) : partnerstack ? CT_BUILD_P : CT_BUILD_T;
  return {
    // Default: the folder the script was loaded from (first-party mode:
    // https://shop.example/_ct/tracking.js -> https://shop.example/_ct), which is the
    // collector's origin when the script comes from the collector itself. Normalised by
    // URL so the tracker can compare its origin with the page's.
    endpoint: stripQuery(new URL(endpoint || "./", endpoint ? location.href : base).href).replace(/\/+$/, ""),
    // this build's second script beside the script, whatever the script's file name (its
    // wasm is beside it)
    fullUrl: new URL("clicktrail_full." + id + ".js", base).href,
    params: attr("data-param"),
    cookieDomain: attr("data-cookie-domain"),
    attribution: attr("data-attribution"),
    debug: attr("data-debug") === "true" || attr("data-affitor-debug") === "true",
    affitorProgramId,
    partnerstack,
    consent: attr("data-consent"),
    stripe: attr("data-stripe"),
  };
}

function stripQuery(url) {
  return url.replace(/[?#].*$/, "");
}
