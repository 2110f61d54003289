/* clicktrail demo site: small helpers shared by the merchant pages.
 * Not part of the tracker; the pages would work without it, it only shows what
 * the tracker did (CID, cookie, hidden inputs) so a person can watch it. */
(function () {
  "use strict";

  function $all(sel) {
    return Array.prototype.slice.call(document.querySelectorAll(sel));
  }

  function setText(sel, text) {
    $all(sel).forEach(function (el) { el.textContent = text; });
  }

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (eq > 0 && parts[i].slice(0, eq) === name) return parts[i].slice(eq + 1);
    }
    return null;
  }

  /* Resolves with test() 's truthy value once it has one; rejects after timeoutMs. */
  function waitFor(test, timeoutMs) {
    return new Promise(function (resolve, reject) {
      var start = Date.now();
      (function poll() {
        var v;
        try { v = test(); } catch (e) { v = null; }
        if (v) return resolve(v);
        if (Date.now() - start > (timeoutMs || 10000)) return reject(new Error("timed out"));
        setTimeout(poll, 50);
      })();
    });
  }

  /* The trackdesk dispatcher once the tracker has replaced the queue stub. */
  function trackerReady(timeoutMs) {
    return waitFor(function () {
      var t = window.trackdesk;
      return t && typeof t.getCid === "function" && typeof t.signup === "function" ? t : null;
    }, timeoutMs || 10000).catch(function () {
      throw new Error("the tracker (/tracking.js) did not start; see the console");
    });
  }

  var cidReported = false;

  /* Shows a CID in every [data-testid="cid"] element. source: what reported it. */
  function showCid(cid, source) {
    cidReported = true;
    $all('[data-testid="cid"]').forEach(function (el) {
      el.textContent = cid || "none yet";
      el.setAttribute("data-cid", cid || "");
      el.classList.toggle("muted", !cid);
    });
    if (source) setText('[data-testid="cid-source"]', source);
    $all('[data-testid="no-cid-hint"]').forEach(function (el) {
      el.hidden = !!cid;
    });
  }

  /* Mirrors what the tracker wrote (cookie, hidden inputs) into the page, live. */
  function watchTrackerOutput() {
    var last = "";
    function refresh() {
      var cookie = readCookie("trakdesk_cid");
      var input = document.querySelector('input[name="trakdesk_cid"]');
      var inputVal = input ? input.value : "";
      var key = cookie + "|" + inputVal;
      if (key === last) return;
      last = key;
      setText('[data-testid="cookie"]', cookie === null ? "(not set)" : cookie);
      setText('[data-testid="hidden-cid-value"]', inputVal || "(empty)");
    }
    refresh();
    setInterval(refresh, 500);
  }

  function markCurrentNav() {
    var path = location.pathname.replace(/\/+$/, "") || "/index.html";
    if (path === "/") path = "/index.html";
    $all("nav.site a").forEach(function (a) {
      var href = a.getAttribute("href");
      if (href === path || (href === "/" && path === "/index.html")) a.classList.add("current");
    });
  }

  function showResult(el, ok, text) {
    el.hidden = false;
    el.className = "result " + (ok ? "ok" : "error");
    el.setAttribute("data-state", ok ? "ok" : "error");
    el.textContent = text;
  }

  window.DemoSite = {
    readCookie: readCookie,
    waitFor: waitFor,
    trackerReady: trackerReady,
    showCid: showCid,
    watchTrackerOutput: watchTrackerOutput,
    showResult: showResult
  };

  // if the tracker never answers (blocked, CSP without 'wasm-unsafe-eval', collector
  // down when the script loads), say so instead of "waiting" forever
  setTimeout(function () {
    if (cidReported) return;
    $all('[data-testid="cid"]').forEach(function (el) {
      if (el.getAttribute("data-cid") === null) el.textContent = "the tracker has not answered (see the console)";
    });
    setText('[data-testid="cid-source"]', "no answer after 10 s");
  }, 10000);

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { markCurrentNav(); watchTrackerOutput(); });
  } else {
    markCurrentNav();
    watchTrackerOutput();
  }
})();
