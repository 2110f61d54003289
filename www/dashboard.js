/* clicktrail dashboard: sign in with a read or admin key (kept in sessionStorage, this tab only);
 * GET /api/v1/report -> funnel, per-day SVG charts, per-affiliate table, ledger states; recent
 * events and diagnostics; with an admin key: affiliates, conversion types, payouts.
 * Vanilla JS, no dependencies. Money arrives as integer cents and is formatted with
 * integer (BigInt) arithmetic, never floats. All text goes in with textContent. */
(function () {
  "use strict";

  var KEY_STORAGE = "clicktrail_dashboard_key";
  var DAY_MS = 86400000;
  var MAX_DAYS = 3660; // never loop forever on a silly range
  var SVG_NS = "http://www.w3.org/2000/svg";
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var SERIES = [
    { key: "clicks", label: "Clicks", color: "#4c6ef5" },
    { key: "leads", label: "Leads", color: "#f59f00" },
    { key: "conversions", label: "Conversions", color: "#2f9e44" }
  ];
  var MONEY_SERIES = [
    { key: "revenueCents", label: "Revenue", color: "#7048e8" },
    { key: "commissionCents", label: "Commission", color: "#e8590c" }
  ];

  var $ = function (id) { return document.getElementById(id); };
  var root = $("dashboard");
  var form = $("report-form");
  var lastReport = null;
  var requestSeq = 0;
  var loadCount = 0;
  var autoTimer = null;

  // ---------- formatting (integer math only for money) ----------

  function toBigInt(v) {
    if (typeof v === "bigint") return v;
    if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
    if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
    return null;
  }

  function groupThousands(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  var SYMBOLS = { USD: "$", EUR: "€", GBP: "£" };

  /* 10050 -> "$100.50"; -5 -> "-$0.05"; unknown currency -> "100.50 VND". */
  function formatCents(cents, currency, dropZeroFraction) {
    var v = toBigInt(cents);
    if (v === null) return "—";
    var neg = v < BigInt(0);
    if (neg) v = -v;
    var hundred = BigInt(100);
    var whole = groupThousands((v / hundred).toString());
    var frac = (v % hundred).toString();
    if (frac.length < 2) frac = "0" + frac;
    var amount = dropZeroFraction && frac === "00" ? whole : whole + "." + frac;
    var cur = currency || "USD";
    var sym = SYMBOLS[cur];
    return (neg ? "-" : "") + (sym ? sym + amount : amount + " " + cur);
  }

  function formatCount(n) {
    var v = toBigInt(n);
    return v === null ? "—" : (v < BigInt(0) ? "-" + groupThousands((-v).toString()) : groupThousands(v.toString()));
  }

  function num(n) {
    return typeof n === "number" && isFinite(n) ? n : 0;
  }

  function percent(part, whole) {
    part = num(part);
    whole = num(whole);
    if (whole <= 0) return "—";
    var tenths = Math.round((part * 1000) / whole); // one decimal
    return Math.floor(tenths / 10) + "." + (tenths % 10) + "%";
  }

  // ---------- dates (UTC days, YYYY-MM-DD) ----------

  function isoDay(ms) {
    return new Date(ms).toISOString().slice(0, 10);
  }

  function parseDay(s) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || "");
    if (!m) return null;
    var ms = Date.UTC(+m[1], +m[2] - 1, +m[3]);
    return isoDay(ms) === s ? ms : null;
  }

  function todayUtc() {
    return parseDay(isoDay(Date.now()));
  }

  function shortDay(ms) {
    var d = new Date(ms);
    return MONTHS[d.getUTCMonth()] + " " + d.getUTCDate();
  }

  function setRange(days) {
    var to = todayUtc();
    $("to").value = isoDay(to);
    $("from").value = isoDay(to - (days - 1) * DAY_MS);
  }

  // ---------- API key (sessionStorage: this tab only, gone when it closes) ----------

  var DEMO_KEY = "demo_secret_key"; // exists only on a `--demo` collector
  var session = null; // {key, tenant, keyId, scopes, admin, currency}

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORAGE) || ""; } catch (e) { return ""; }
  }

  function saveKey(k) {
    try {
      if (k) sessionStorage.setItem(KEY_STORAGE, k); else sessionStorage.removeItem(KEY_STORAGE);
    } catch (e) { /* storage disabled: the key lives until reload */ }
  }

  function currentKey() {
    return session ? session.key : "";
  }

  // ---------- status ----------

  function setState(state, message) {
    root.setAttribute("data-state", state);
    var st = $("status");
    st.className = "status " + state;
    st.textContent = message || "";
  }

  // ---------- fetching ----------

  function load(opts) {
    opts = opts || {};
    var key = currentKey();
    var from = $("from").value, to = $("to").value;
    if (!key) { showError("Sign in with a read or admin key."); return; }
    if (parseDay(from) === null || parseDay(to) === null) { showError("Pick both dates."); return; }
    if (parseDay(from) > parseDay(to)) { showError("“From” is after “To”."); return; }

    var seq = ++requestSeq;
    if (!opts.quiet) setState("loading", "Loading…");
    var url = "/api/v1/report?from=" + encodeURIComponent(from) + "&to=" + encodeURIComponent(to);
    fetch(url, { headers: { Authorization: "Bearer " + key, Accept: "application/json" }, cache: "no-store" })
      .then(function (res) {
        return res.text().then(function (text) {
          var body = null;
          try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
          return { res: res, body: body };
        });
      })
      .then(function (r) {
        if (seq !== requestSeq) return; // a newer request is on its way
        if (r.res.status === 401) {
          showError("Access refused: the key was revoked or is wrong (HTTP 401). Sign in again.", "unauthorized");
          return;
        }
        if (!r.res.ok) {
          var msg = r.body && r.body.error && r.body.error.message ? r.body.error.message : r.res.statusText;
          showError("The collector answered " + r.res.status + (msg ? ": " + msg : "") + ".");
          return;
        }
        if (!r.body || typeof r.body !== "object" || !r.body.totals) {
          showError("The collector's answer is not a report.");
          return;
        }
        lastReport = r.body;
        render(r.body);
        if (!opts.quiet || !opts.keepLists) refreshLists();
      })
      .catch(function (e) {
        if (seq !== requestSeq) return;
        showError("Cannot reach the collector (" + ((e && e.message) || e) + ").", "offline");
      });
  }

  function showError(message, kind) {
    setState("error", message);
    if (kind) root.setAttribute("data-error", kind); else root.removeAttribute("data-error");
    $("results").hidden = true;
  }

  // ---------- rendering ----------

  function setStat(id, text, raw) {
    var el = $(id);
    el.textContent = text;
    el.setAttribute("data-value", raw === undefined || raw === null ? "" : String(raw));
  }

  function setStep(id, rate, what) {
    var el = $(id);
    el.textContent = "";
    el.title = what;
    var arrow = document.createElement("span");
    arrow.className = "arrow";
    arrow.textContent = "→";
    var r = document.createElement("span");
    r.className = "rate";
    r.textContent = rate;
    var w = document.createElement("span");
    w.className = "rate-what";
    w.textContent = what;
    el.appendChild(arrow);
    el.appendChild(r);
    el.appendChild(w);
  }

  function render(rep) {
    var t = rep.totals || {};
    var cur = rep.currency || "USD";
    var affiliates = Array.isArray(rep.affiliates) ? rep.affiliates.slice() : [];
    loadCount += 1;
    root.removeAttribute("data-error");
    root.setAttribute("data-load-count", String(loadCount));
    $("tenant").textContent = rep.tenantId ? "tenant " + rep.tenantId : "";

    setStat("total-clicks", formatCount(t.clicks), num(t.clicks));
    setStat("total-leads", formatCount(t.leads), num(t.leads));
    setStat("total-conversions", formatCount(t.conversions), num(t.conversions));
    setStat("total-revenue", formatCents(t.revenueCents, cur), t.revenueCents);
    setStat("total-commission", formatCents(t.commissionCents, cur), t.commissionCents);
    setStep("lead-rate", percent(t.leads, t.clicks), "leads per click");
    setStep("conversion-rate", percent(t.conversions, t.clicks), "conversions per click");
    renderFunnelBars(t);

    var un = rep.unattributed || {};
    setStat("unattributed-conversions", formatCount(un.conversions || 0), num(un.conversions));
    setStat("unattributed-revenue", formatCents(un.revenueCents || 0, cur), un.revenueCents || 0);
    var other = rep.otherCurrencies && typeof rep.otherCurrencies === "object" ? rep.otherCurrencies : null;
    var oc = $("other-currencies");
    var parts = [];
    if (other) {
      Object.keys(other).sort().forEach(function (c) {
        var o = other[c] || {};
        parts.push(formatCents(o.revenueCents, c) + " revenue, " + formatCents(o.commissionCents, c) + " commission");
      });
    }
    oc.hidden = parts.length === 0;
    oc.textContent = parts.length ? " · Other currencies (not in the totals): " + parts.join("; ") : "";

    // affiliates: most revenue first, then most clicks, then name
    affiliates.sort(function (a, b) {
      var ra = toBigInt(a.revenueCents) || BigInt(0), rb = toBigInt(b.revenueCents) || BigInt(0);
      if (ra !== rb) return ra > rb ? -1 : 1;
      if (num(b.clicks) !== num(a.clicks)) return num(b.clicks) - num(a.clicks);
      return String(a.affiliate).localeCompare(String(b.affiliate));
    });
    renderTable(affiliates, t, cur);
    renderLedger(affiliates, t, cur);
    renderAffiliateSelect(affiliates);
    renderCharts();

    $("results").hidden = false;
    // the collector lists configured affiliates even with no activity: "empty" = nothing counted
    var empty = !num(t.clicks) && !num(t.leads) && !num(t.conversions) && !num(un.conversions);
    var range = (rep.from || $("from").value) + " → " + (rep.to || $("to").value);
    if (empty) {
      setState("empty", "No clicks, leads or conversions from " + range + ". Open /?aff=alice to make some.");
    } else {
      setState("ready", "Report " + range + " · updated " + new Date().toLocaleTimeString());
    }
  }

  function renderFunnelBars(t) {
    var box = $("funnel-bars");
    box.textContent = "";
    var max = Math.max(num(t.clicks), num(t.leads), num(t.conversions), 1);
    SERIES.forEach(function (s) {
      var row = document.createElement("div");
      row.className = "fbar";
      var label = document.createElement("span");
      label.className = "fbar-label";
      label.textContent = s.label;
      var track = document.createElement("span");
      track.className = "fbar-track";
      var fill = document.createElement("span");
      fill.className = "fbar-fill";
      var v = num(t[s.key]);
      fill.style.width = (v > 0 ? Math.max(1, (v / max) * 100) : 0) + "%";
      fill.style.background = s.color;
      track.appendChild(fill);
      var val = document.createElement("span");
      val.className = "fbar-value";
      val.textContent = formatCount(v);
      row.appendChild(label);
      row.appendChild(track);
      row.appendChild(val);
      box.appendChild(row);
    });
  }

  function td(text, cls, col) {
    var c = document.createElement("td");
    c.textContent = text;
    if (cls) c.className = cls;
    if (col) c.setAttribute("data-col", col);
    return c;
  }

  function renderTable(affiliates, totals, cur) {
    var body = $("affiliates-body");
    var foot = $("affiliates-foot");
    body.textContent = "";
    foot.textContent = "";
    if (affiliates.length === 0) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-testid", "affiliates-empty");
      var c = td("No affiliate activity in this range.", "empty");
      c.colSpan = 7;
      tr.appendChild(c);
      body.appendChild(tr);
    }
    affiliates.forEach(function (a) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-affiliate", String(a.affiliate));
      tr.setAttribute("data-testid", "affiliate-row");
      var name = td(String(a.affiliate), "name", "affiliate");
      tr.appendChild(name);
      tr.appendChild(td(formatCount(a.clicks), "num", "clicks"));
      tr.appendChild(td(formatCount(a.leads), "num", "leads"));
      tr.appendChild(td(formatCount(a.conversions), "num", "conversions"));
      tr.appendChild(td(percent(a.conversions, a.clicks), "num muted", "conversion-rate"));
      var rev = td(formatCents(a.revenueCents, cur), "num", "revenue");
      rev.setAttribute("data-cents", String(a.revenueCents));
      var com = td(formatCents(a.commissionCents, cur), "num", "commission");
      com.setAttribute("data-cents", String(a.commissionCents));
      tr.appendChild(rev);
      tr.appendChild(com);
      body.appendChild(tr);
    });
    var ft = document.createElement("tr");
    ft.setAttribute("data-testid", "affiliates-total");
    ft.appendChild(td("Total", "name", "affiliate"));
    ft.appendChild(td(formatCount(totals.clicks), "num", "clicks"));
    ft.appendChild(td(formatCount(totals.leads), "num", "leads"));
    ft.appendChild(td(formatCount(totals.conversions), "num", "conversions"));
    ft.appendChild(td(percent(totals.conversions, totals.clicks), "num muted", "conversion-rate"));
    ft.appendChild(td(formatCents(totals.revenueCents, cur), "num", "revenue"));
    ft.appendChild(td(formatCents(totals.commissionCents, cur), "num", "commission"));
    foot.appendChild(ft);
  }

  function renderAffiliateSelect(affiliates) {
    var sel = $("chart-affiliate");
    var keep = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    affiliates.forEach(function (a) {
      var o = document.createElement("option");
      o.value = String(a.affiliate);
      o.textContent = String(a.affiliate);
      sel.appendChild(o);
    });
    sel.value = affiliates.some(function (a) { return String(a.affiliate) === keep; }) ? keep : "";
  }

  /* Per-day sums over the report range for all affiliates, or one. */
  function dailySeries(rep, only) {
    var fromMs = parseDay(rep.from) !== null ? parseDay(rep.from) : parseDay($("from").value);
    var toMs = parseDay(rep.to) !== null ? parseDay(rep.to) : parseDay($("to").value);
    var days = [];
    var index = {};
    if (fromMs === null || toMs === null) return days;
    for (var ms = fromMs, i = 0; ms <= toMs && i < MAX_DAYS; ms += DAY_MS, i++) {
      var d = { date: isoDay(ms), ms: ms, clicks: 0, leads: 0, conversions: 0, revenueCents: 0, commissionCents: 0 };
      index[d.date] = d;
      days.push(d);
    }
    (rep.affiliates || []).forEach(function (a) {
      if (only && String(a.affiliate) !== only) return;
      (a.days || []).forEach(function (day) {
        var d = index[day && day.date];
        if (!d) return;
        d.clicks += num(day.clicks);
        d.leads += num(day.leads);
        d.conversions += num(day.conversions);
        d.revenueCents += num(day.revenueCents);
        d.commissionCents += num(day.commissionCents);
      });
    });
    return days;
  }

  function renderCharts() {
    if (!lastReport) return;
    var only = $("chart-affiliate").value;
    var days = dailySeries(lastReport, only);
    var cur = lastReport.currency || "USD";
    var who = only ? " — " + only : "";
    drawChart($("chart"), days, SERIES, {
      title: "Clicks, leads and conversions per day" + who,
      integer: true,
      fmt: function (v) { return formatCount(v); },
      testid: "chart-svg"
    });
    drawChart($("money-chart"), days, MONEY_SERIES, {
      title: "Revenue and commission per day (" + cur + ")" + who,
      integer: true,
      height: 220,
      minStep: 100, // whole currency units on the axis
      fmt: function (v) { return formatCents(Math.round(v), cur, true); },
      tipFmt: function (v) { return formatCents(Math.round(v), cur); },
      testid: "money-chart-svg"
    });
  }

  // ---------- SVG chart ----------

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG_NS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / p;
    var nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nice * p;
  }

  function yScale(max, integer, minStep) {
    if (!(max > 0)) max = 4 * (minStep || 1);
    var step = Math.max(niceStep(max / 4), minStep || 0);
    if (integer) step = Math.max(1, Math.round(step));
    var top = Math.ceil(max / step) * step;
    var ticks = [];
    for (var v = 0; v <= top + step / 2; v += step) ticks.push(v);
    return { top: top, ticks: ticks };
  }

  function drawChart(host, days, series, opt) {
    host.textContent = "";
    var W = 960, H = opt.height || 300;
    var m = { left: 64, right: 16, top: 44, bottom: 36 };
    var pw = W - m.left - m.right, ph = H - m.top - m.bottom;
    var root = svg("svg", {
      viewBox: "0 0 " + W + " " + H, width: "100%", role: "img",
      "aria-label": opt.title, "data-testid": opt.testid, "data-days": days.length,
      preserveAspectRatio: "xMidYMid meet"
    });
    root.appendChild(svg("title", {}, opt.title));
    root.appendChild(svg("text", { x: m.left, y: 16, "class": "chart-title" }, opt.title));

    // legend
    var lx = m.left;
    series.forEach(function (s) {
      var g = svg("g", { "class": "legend-item", "data-series": s.key, transform: "translate(" + lx + ",26)" });
      g.appendChild(svg("rect", { x: 0, y: 0, width: 12, height: 12, rx: 2, fill: s.color }));
      g.appendChild(svg("text", { x: 17, y: 10.5, "class": "legend" }, s.label));
      root.appendChild(g);
      lx += 30 + s.label.length * 8;
    });

    var max = 0;
    days.forEach(function (d) { series.forEach(function (s) { if (d[s.key] > max) max = d[s.key]; }); });
    var ys = yScale(max, opt.integer, opt.minStep);
    var y = function (v) { return m.top + ph - (v / ys.top) * ph; };

    // grid + y axis labels
    ys.ticks.forEach(function (v) {
      var yy = Math.round(y(v)) + 0.5;
      root.appendChild(svg("line", { x1: m.left, x2: m.left + pw, y1: yy, y2: yy, "class": v === 0 ? "axis" : "grid" }));
      root.appendChild(svg("text", { x: m.left - 8, y: yy + 4, "class": "tick", "text-anchor": "end" }, opt.fmt(v)));
    });
    root.appendChild(svg("line", { x1: m.left + 0.5, x2: m.left + 0.5, y1: m.top, y2: m.top + ph, "class": "axis" }));

    var n = days.length;
    if (n === 0) { host.appendChild(root); return; }
    var gw = pw / n;

    // x labels: as many as fit
    var every = Math.max(1, Math.ceil(n / Math.floor(pw / 64)));
    days.forEach(function (d, i) {
      if ((n - 1 - i) % every !== 0) return; // always label the last day
      var cx = m.left + gw * (i + 0.5);
      root.appendChild(svg("line", { x1: cx, x2: cx, y1: m.top + ph, y2: m.top + ph + 4, "class": "axis" }));
      root.appendChild(svg("text", { x: cx, y: m.top + ph + 18, "class": "tick", "text-anchor": "middle" }, shortDay(d.ms)));
    });

    var plot = svg("g", { "class": "plot" });
    if (n <= 62) {
      // grouped bars
      var inner = gw * 0.8, bw = Math.max(1, inner / series.length);
      days.forEach(function (d, i) {
        var x0 = m.left + gw * i + (gw - inner) / 2;
        series.forEach(function (s, j) {
          var v = d[s.key];
          if (!(v > 0)) return;
          var top = y(v);
          plot.appendChild(svg("rect", {
            x: (x0 + j * bw).toFixed(2), y: top.toFixed(2),
            width: Math.max(1, bw - (bw > 4 ? 1 : 0)).toFixed(2), height: Math.max(1, m.top + ph - top).toFixed(2),
            fill: s.color, "class": "bar", "data-date": d.date, "data-series": s.key, "data-value": v
          }));
        });
      });
    } else {
      // long ranges: lines
      series.forEach(function (s) {
        var pts = days.map(function (d, i) {
          return (m.left + gw * (i + 0.5)).toFixed(1) + "," + y(d[s.key]).toFixed(1);
        }).join(" ");
        plot.appendChild(svg("polyline", { points: pts, fill: "none", stroke: s.color, "stroke-width": 2, "class": "line", "data-series": s.key }));
      });
    }
    root.appendChild(plot);

    // hover targets with a tooltip per day
    var tipFmt = opt.tipFmt || opt.fmt;
    days.forEach(function (d, i) {
      var hit = svg("rect", { x: (m.left + gw * i).toFixed(2), y: m.top, width: gw.toFixed(2), height: ph, "class": "hit" });
      hit.appendChild(svg("title", {}, d.date + "\n" + series.map(function (s) { return s.label + ": " + tipFmt(d[s.key]); }).join("\n")));
      root.appendChild(hit);
    });

    if (max === 0) {
      root.appendChild(svg("text", { x: m.left + pw / 2, y: m.top + ph / 2, "class": "nodata", "text-anchor": "middle" }, "No data in this range"));
    }
    host.appendChild(root);
  }

  // ---------- ledger states ----------

  function renderLedger(affiliates, totals, cur) {
    var body = $("ledger-body"), foot = $("ledger-foot");
    body.textContent = "";
    foot.textContent = "";
    var cols = ["pendingCents", "approvedCents", "paidCents", "reversedCents"];
    function row(name, ledger, testid) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-testid", testid);
      tr.setAttribute("data-affiliate", name);
      tr.appendChild(td(name, "name", "affiliate"));
      var l = ledger || {};
      cols.forEach(function (c) {
        var cell = td(formatCents(l[c] || 0, cur), "num", c);
        cell.setAttribute("data-cents", String(l[c] || 0));
        tr.appendChild(cell);
      });
      return tr;
    }
    affiliates.forEach(function (a) { body.appendChild(row(String(a.affiliate), a.ledger, "ledger-row")); });
    foot.appendChild(row("Total", totals.ledger, "ledger-total"));
  }

  // ---------- API calls ----------

  /* fetch with the session's key; resolves {status, ok, body} (body: parsed JSON or null). */
  function api(method, path, body, key) {
    var headers = { Authorization: "Bearer " + (key || currentKey()), Accept: "application/json" };
    var init = { method: method, headers: headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        return { status: res.status, ok: res.ok, body: parsed, res: res };
      });
    });
  }

  function errorText(r) {
    var e = r.body && r.body.error;
    return "HTTP " + r.status + (e && e.message ? ": " + e.message : "");
  }

  function say(id, state, text) {
    var el = $(id);
    el.className = "status " + state;
    el.setAttribute("data-state", state);
    el.textContent = text || "";
  }

  function when(secs) {
    if (typeof secs !== "number") return "";
    return new Date(secs * 1000).toISOString().replace("T", " ").slice(0, 19);
  }

  function button(text, testid, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (testid) b.setAttribute("data-testid", testid);
    b.addEventListener("click", onClick);
    return b;
  }

  function cell(child) {
    var c = document.createElement("td");
    if (child) c.appendChild(child);
    return c;
  }

  function emptyRow(body, cols, text) {
    var tr = document.createElement("tr");
    var c = td(text, "empty");
    c.colSpan = cols;
    tr.appendChild(c);
    body.appendChild(tr);
  }

  // ---------- recent events and diagnostics ----------

  var eventsOffset = 0;

  function loadEvents(more) {
    var q = ["limit=50"];
    var kind = $("events-kind").value, aff = $("events-affiliate").value.trim();
    if (kind) q.push("kind=" + encodeURIComponent(kind));
    if (aff) q.push("affiliate=" + encodeURIComponent(aff));
    if (!more) eventsOffset = 0;
    q.push("offset=" + eventsOffset);
    return api("GET", "/api/v1/events?" + q.join("&")).then(function (r) {
      var body = $("events-body");
      if (!r.ok) { say("events-status", "error", "Events: " + errorText(r)); return; }
      if (!more) body.textContent = "";
      var events = (r.body && r.body.events) || [];
      var cur = (lastReport && lastReport.currency) || "USD";
      events.forEach(function (e) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-testid", "event-row");
        tr.setAttribute("data-kind", String(e.kind));
        tr.setAttribute("data-affiliate", e.affiliate == null ? "" : String(e.affiliate));
        tr.appendChild(td(when(e.created_at), "muted", "when"));
        tr.appendChild(td(String(e.kind), "", "kind"));
        tr.appendChild(td(e.affiliate == null ? "" : String(e.affiliate), "", "affiliate"));
        tr.appendChild(td(e.reference == null ? "" : String(e.reference), "mono", "reference"));
        tr.appendChild(td(e.amount_cents == null ? "" : formatCents(e.amount_cents, e.currency || cur), "num", "amount"));
        tr.appendChild(td(e.detail == null ? "" : String(e.detail), "small", "detail"));
        body.appendChild(tr);
      });
      if (!more && events.length === 0) emptyRow(body, 6, "No events match.");
      eventsOffset = r.body && typeof r.body.next_offset === "number" ? r.body.next_offset : eventsOffset;
      $("events-more").hidden = !(r.body && typeof r.body.next_offset === "number");
      say("events-status", "ready", "");
    }).catch(function (e) { say("events-status", "error", "Events: " + ((e && e.message) || e)); });
  }

  function loadDiagnostics() {
    return api("GET", "/api/v1/diagnostics?limit=20").then(function (r) {
      var body = $("diagnostics-body");
      body.textContent = "";
      if (!r.ok) { emptyRow(body, 4, "Diagnostics: " + errorText(r)); return; }
      var rows = (r.body && r.body.diagnostics) || [];
      rows.forEach(function (d) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-testid", "diagnostic-row");
        tr.appendChild(td(when(d.created_at), "muted"));
        tr.appendChild(td(d.kind == null ? "" : String(d.kind)));
        tr.appendChild(td(d.message == null ? "" : String(d.message), "small"));
        tr.appendChild(td(d.url == null ? "" : String(d.url), "small mono"));
        body.appendChild(tr);
      });
      if (rows.length === 0) emptyRow(body, 4, "No diagnostics: every page that reported loaded the tracker.");
    }).catch(function () { /* the report shows connectivity errors */ });
  }

  function refreshLists() {
    loadEvents(false);
    loadDiagnostics();
    if (session && session.admin) {
      loadAffiliates();
      loadConversionTypes();
      loadRules();
      loadWebhooks();
      loadDue();
      loadApplications();
    }
  }

  // ---------- admin: outgoing webhooks ----------

  function loadWebhooks() {
    return api("GET", "/api/v1/webhook-endpoints").then(function (r) {
      var body = $("webhooks-body");
      if (!r.ok) { say("webhooks-status", "error", "Webhooks: " + errorText(r)); return; }
      body.textContent = "";
      var list = (r.body && r.body.endpoints) || [];
      list.forEach(function (e) { body.appendChild(webhookRow(e)); });
      if (list.length === 0) emptyRow(body, 4, "No endpoints yet.");
    });
  }

  function webhookRow(e) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-testid", "webhook-row");
    tr.setAttribute("data-id", String(e.id));
    tr.setAttribute("data-enabled", e.enabled ? "true" : "false");
    tr.appendChild(td(String(e.url), "mono small", "url"));
    tr.appendChild(td((e.events || []).join(", "), "small", "events"));
    var status = e.enabled ? "enabled" : "disabled";
    if (!e.enabled && e.disabledReason) status += ": " + e.disabledReason;
    if (e.enabled && e.failingSince) status += ", failing since " + when(e.failingSince);
    tr.appendChild(td(status, "", "status"));
    var box = document.createElement("span");
    box.appendChild(button("Deliveries", "deliveries", function () { loadDeliveries(e); }));
    box.appendChild(button(e.enabled ? "Disable" : "Enable", e.enabled ? "disable" : "enable", function () {
      var change = e.enabled ? { enabled: false, reason: "disabled in the dashboard" } : { enabled: true };
      api("PATCH", "/api/v1/webhook-endpoints/" + encodeURIComponent(String(e.id)), change).then(function (r) {
        say("webhooks-status", r.ok ? "ready" : "error", r.ok
          ? (change.enabled ? "Enabled: waiting deliveries are sent now." : "Disabled: nothing new is queued for it.")
          : "Webhook: " + errorText(r));
        loadWebhooks();
      });
    }));
    box.appendChild(button("Delete", "delete", function () {
      api("DELETE", "/api/v1/webhook-endpoints/" + encodeURIComponent(String(e.id))).then(function (r) {
        say("webhooks-status", r.ok ? "ready" : "error", r.ok
          ? "Deleted; its undelivered events are dropped, the log of delivered ones stays."
          : "Webhook: " + errorText(r));
        $("deliveries").hidden = true;
        loadWebhooks();
      });
    }));
    tr.appendChild(cell(box));
    return tr;
  }

  function loadDeliveries(e) {
    return api("GET", "/api/v1/webhook-endpoints/" + encodeURIComponent(String(e.id)) + "/deliveries").then(function (r) {
      if (!r.ok) { say("webhooks-status", "error", "Deliveries: " + errorText(r)); return; }
      $("deliveries-title").textContent = "Deliveries to " + e.url + " (newest first)";
      var body = $("deliveries-body");
      body.textContent = "";
      var list = (r.body && r.body.deliveries) || [];
      list.forEach(function (d) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-testid", "delivery-row");
        tr.setAttribute("data-event", String(d.eventId));
        tr.setAttribute("data-delivered", d.deliveredAt == null ? "false" : "true");
        tr.appendChild(td(when(d.createdAt), "muted"));
        tr.appendChild(td(String(d.eventId), "mono", "event"));
        tr.appendChild(td(String(d.attempts), "n", "attempts"));
        tr.appendChild(td(d.deliveredAt == null ? "not yet" : when(d.deliveredAt), "", "delivered"));
        tr.appendChild(td(d.deliveredAt == null ? when(d.nextAttemptAt) : "", "muted"));
        tr.appendChild(td(d.lastError == null ? "" : String(d.lastError), "small", "error"));
        body.appendChild(tr);
      });
      if (list.length === 0) emptyRow(body, 6, "Nothing queued for this endpoint yet.");
      $("deliveries").hidden = false;
    });
  }

  function addWebhook(ev) {
    ev.preventDefault();
    var events = Array.prototype.slice.call($("webhook-events").querySelectorAll("input:checked"))
      .map(function (i) { return i.value; });
    api("POST", "/api/v1/webhook-endpoints", { url: $("webhook-url").value.trim(), events: events }).then(function (r) {
      if (!r.ok) { say("webhooks-status", "error", "Webhook: " + errorText(r)); return; }
      $("webhook-secret-value").textContent = String(r.body.secret);
      $("webhook-secret").hidden = false;
      say("webhooks-status", "ready", "Endpoint added. Copy its signing secret now: it is not shown again.");
      $("webhook-url").value = "";
      loadWebhooks();
    });
  }

  // ---------- admin: applications (the join page) ----------

  var payTo = {};

  function loadApplications() {
    api("GET", "/api/v1/program/settings").then(function (r) {
      if (!r.ok || !r.body) return;
      $("join-enabled").checked = !!r.body.joinEnabled;
      $("auto-approve").checked = !!r.body.autoApprove;
      var t = session && session.tenant ? String(session.tenant) : "";
      $("join-link").href = "/join/" + encodeURIComponent(t);
    });
    return api("GET", "/api/v1/applications").then(function (r) {
      var body = $("applications-body");
      if (!r.ok) { say("applications-status", "error", "Applications: " + errorText(r)); return; }
      body.textContent = "";
      var list = (r.body && r.body.applications) || [];
      list.forEach(function (a) { body.appendChild(applicationRow(a)); });
      if (list.length === 0) emptyRow(body, 8, "No applications yet: share the join page.");
      say("applications-status", "ready", "");
    });
  }

  function applicationRow(a) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-testid", "application-row");
    tr.setAttribute("data-id", String(a.id));
    tr.setAttribute("data-email", String(a.email));
    tr.setAttribute("data-status", String(a.status));
    tr.appendChild(td(when(a.createdAt), "muted", "when"));
    tr.appendChild(td(String(a.name), "name", "name"));
    tr.appendChild(td(String(a.email), "mono", "email"));
    tr.appendChild(td(a.website == null ? "" : String(a.website), "small", "website"));
    tr.appendChild(td(String(a.promotion), "small", "promotion"));
    tr.appendChild(td(a.wishedCode == null ? "" : String(a.wishedCode), "mono", "code"));
    var status = String(a.status);
    if (a.affiliate) status += " as " + a.affiliate;
    if (a.reason) status += " (" + a.reason + ")";
    tr.appendChild(td(status, "", "status"));
    if (a.status !== "pending") { tr.appendChild(td("", "", "decide")); return tr; }
    var box = document.createElement("span");
    box.appendChild(button("Approve", "approve", function () { decide(a.id, "approve", null); }));
    var reason = document.createElement("input");
    reason.placeholder = "reason";
    reason.setAttribute("data-testid", "reject-reason");
    box.appendChild(reason);
    box.appendChild(button("Reject", "reject", function () { decide(a.id, "reject", { reason: reason.value }); }));
    tr.appendChild(cell(box));
    return tr;
  }

  function decide(id, what, body) {
    return api("POST", "/api/v1/applications/" + encodeURIComponent(String(id)) + "/" + what, body || {}).then(function (r) {
      if (!r.ok) { say("applications-status", "error", "Application " + id + ": " + errorText(r)); return; }
      say("applications-status", "ready", what === "approve"
        ? "Approved: affiliate " + r.body.affiliate + " created; the applicant gets their portal link by email."
        : "Rejected; the applicant gets the reason by email.");
      loadApplications();
      loadAffiliates();
    });
  }

  function saveProgram() {
    api("PATCH", "/api/v1/program/settings", {
      joinEnabled: $("join-enabled").checked, autoApprove: $("auto-approve").checked
    }).then(function (r) {
      say("applications-status", r.ok ? "ready" : "error", r.ok ? "Program settings saved." : "Settings: " + errorText(r));
    });
  }

  // ---------- admin: commission rules ----------

  function loadRules() {
    return api("GET", "/api/v1/rules").then(function (r) {
      if (!r.ok) { say("rules-status", "error", "Rules: " + errorText(r)); return; }
      $("rules-doc").value = JSON.stringify(r.body, null, 2);
    });
  }

  // ---------- admin: affiliates ----------

  function loadAffiliates() {
    return api("GET", "/api/v1/affiliates").then(function (r) {
      var body = $("admin-affiliates-body");
      if (!r.ok) { say("affiliates-status", "error", "Affiliates: " + errorText(r)); return; }
      body.textContent = "";
      var list = (r.body && r.body.affiliates) || [];
      list.forEach(function (a) { body.appendChild(affiliateRow(a)); });
      if (list.length === 0) emptyRow(body, 6, "No affiliates yet.");
    });
  }

  function affiliateRow(a) {
    var code = String(a.code);
    var tr = document.createElement("tr");
    tr.setAttribute("data-testid", "admin-affiliate-row");
    tr.setAttribute("data-code", code);
    tr.setAttribute("data-disabled", a.disabled ? "true" : "false");
    tr.appendChild(td(code, "name mono", "code"));
    var name = document.createElement("input");
    name.value = a.name == null ? "" : String(a.name);
    name.setAttribute("data-testid", "affiliate-name-edit");
    name.setAttribute("aria-label", "Name of " + code);
    tr.appendChild(cell(name));
    tr.appendChild(td(a.disabled ? "disabled" : "active", a.disabled ? "muted" : "", "status"));
    var link = document.createElement("code");
    link.setAttribute("data-testid", "affiliate-link");
    link.textContent = "?aff=" + encodeURIComponent(code);
    tr.appendChild(cell(link));
    tr.appendChild(aliasesCell(code, Array.isArray(a.aliases) ? a.aliases : []));
    var actions = document.createElement("td");
    var out = document.createElement("div");
    out.className = "small";
    out.setAttribute("data-testid", "affiliate-action-result");
    actions.appendChild(button("Save name", "affiliate-save", function () {
      patchAffiliate(code, { name: name.value.trim() === "" ? null : name.value.trim() });
    }));
    actions.appendChild(button(a.disabled ? "Enable" : "Disable", a.disabled ? "affiliate-enable" : "affiliate-disable", function () {
      patchAffiliate(code, { disabled: !a.disabled });
    }));
    actions.appendChild(button("Portal link", "affiliate-portal", function () { portalLink(code, out); }));
    actions.appendChild(out);
    tr.appendChild(actions);
    return tr;
  }

  /* Further codes of the affiliate (e.g. PartnerStack partner keys): each removable, one added
   * at a time. */
  function aliasesCell(code, aliases) {
    var box = document.createElement("td");
    box.setAttribute("data-testid", "affiliate-aliases");
    aliases.forEach(function (alias) {
      var chip = document.createElement("span");
      chip.className = "mono";
      chip.setAttribute("data-testid", "affiliate-alias");
      chip.setAttribute("data-alias", String(alias));
      chip.textContent = String(alias) + " ";
      chip.appendChild(button("×", "affiliate-alias-remove", function () {
        aliasChange("DELETE", code, "/aliases/" + encodeURIComponent(String(alias)), undefined);
      }));
      box.appendChild(chip);
    });
    var input = document.createElement("input");
    input.setAttribute("data-testid", "affiliate-alias-input");
    input.setAttribute("aria-label", "New alias of " + code);
    input.setAttribute("spellcheck", "false");
    box.appendChild(input);
    box.appendChild(button("Add alias", "affiliate-alias-add", function () {
      if (input.value.trim() !== "") aliasChange("POST", code, "/aliases", { alias: input.value.trim() });
    }));
    return box;
  }

  function aliasChange(method, code, path, body) {
    return api(method, "/api/v1/affiliates/" + encodeURIComponent(code) + path, body).then(function (r) {
      if (!r.ok) { say("affiliates-status", "error", "Affiliate " + code + ": " + errorText(r)); return; }
      say("affiliates-status", "ready", "Affiliate " + code + ": aliases saved.");
      return loadAffiliates();
    });
  }

  function patchAffiliate(code, patch) {
    return api("PATCH", "/api/v1/affiliates/" + encodeURIComponent(code), patch).then(function (r) {
      if (!r.ok) { say("affiliates-status", "error", "Affiliate " + code + ": " + errorText(r)); return; }
      say("affiliates-status", "ready", "Affiliate " + code + " saved.");
      return loadAffiliates();
    });
  }

  function portalLink(code, out) {
    out.textContent = "…";
    return api("POST", "/api/v1/affiliates/" + encodeURIComponent(code) + "/portal-link").then(function (r) {
      out.textContent = "";
      if (!r.ok || !r.body || typeof r.body.url !== "string") {
        out.setAttribute("data-state", "error");
        out.textContent = "Portal link: " + errorText(r);
        return;
      }
      out.setAttribute("data-state", "ready");
      var a = document.createElement("a");
      var url;
      try { url = new URL(r.body.url, location.href); } catch (e) { url = null; }
      a.textContent = url ? url.href : String(r.body.url);
      // only http(s) links are clickable (never a javascript: URL from a response)
      if (url && (url.protocol === "http:" || url.protocol === "https:")) a.href = url.href;
      a.setAttribute("data-testid", "portal-url");
      out.appendChild(a);
    }).catch(function (e) { out.textContent = "Portal link: " + ((e && e.message) || e); });
  }

  // ---------- admin: conversion types ----------

  function loadConversionTypes() {
    return api("GET", "/api/v1/conversion-types").then(function (r) {
      var body = $("ctypes-body");
      if (!r.ok) { say("ctypes-status", "error", "Conversion types: " + errorText(r)); return; }
      body.textContent = "";
      ((r.body && r.body.conversion_types) || []).forEach(function (c) {
        var code = String(c.code);
        var tr = document.createElement("tr");
        tr.setAttribute("data-testid", "ctype-row");
        tr.setAttribute("data-code", code);
        tr.appendChild(td(code, "name mono", "code"));
        var fixed = typeof c.fixed === "string";
        tr.appendChild(td(fixed ? "fixed " + String(c.fixed) : String(c.revenue_share_percent) + " % of revenue", "", "pays"));
        var kind = document.createElement("select");
        [["fixed", "fixed"], ["revenue_share_percent", "%"]].forEach(function (o) {
          var opt = document.createElement("option");
          opt.value = o[0];
          opt.textContent = o[1];
          kind.appendChild(opt);
        });
        kind.value = fixed ? "fixed" : "revenue_share_percent";
        var value = document.createElement("input");
        value.size = 8;
        value.value = fixed ? String(c.fixed) : String(c.revenue_share_percent);
        value.setAttribute("data-testid", "ctype-value-edit");
        var change = document.createElement("td");
        change.appendChild(kind);
        change.appendChild(value);
        change.appendChild(button("Save", "ctype-save", function () {
          var b = {};
          b[kind.value] = value.value.trim();
          api("PATCH", "/api/v1/conversion-types/" + encodeURIComponent(code), b).then(function (r2) {
            if (!r2.ok) { say("ctypes-status", "error", "Conversion type " + code + ": " + errorText(r2)); return; }
            say("ctypes-status", "ready", "Conversion type " + code + " saved.");
            loadConversionTypes();
          });
        }));
        tr.appendChild(change);
        body.appendChild(tr);
      });
    });
  }

  // ---------- admin: payouts ----------

  function loadDue() {
    var through = $("due-through").value;
    var q = through ? "?through=" + encodeURIComponent(through) : "";
    return api("GET", "/api/v1/payout-details").then(function (r) {
      payTo = {};
      ((r.ok && r.body && r.body.payoutDetails) || []).forEach(function (d) { payTo[d.affiliate] = d; });
    }).then(function () { return api("GET", "/api/v1/payouts/due" + q); }).then(function (r) {
      var body = $("due-body");
      body.textContent = "";
      if (!r.ok) { say("payouts-status", "error", "Payouts: " + errorText(r)); return; }
      var list = (r.body && r.body.affiliates) || [];
      var day = r.body && r.body.through ? String(r.body.through) : through;
      list.forEach(function (d) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-testid", "due-row");
        tr.setAttribute("data-affiliate", String(d.affiliate));
        tr.appendChild(td(String(d.affiliate), "name", "affiliate"));
        var amt = td(formatCents(d.amountCents, d.currency), "num", "amount");
        amt.setAttribute("data-cents", String(d.amountCents));
        tr.appendChild(amt);
        tr.appendChild(td(formatCount(d.entries), "num", "entries"));
        var to = payTo[String(d.affiliate)];
        tr.appendChild(td(to ? to.method + ": " + to.address : "not given yet", to ? "mono" : "muted", "pay-to"));
        tr.appendChild(cell(button("Pay " + formatCents(d.amountCents, d.currency), "pay", function () {
          pay(String(d.affiliate), day, String(d.currency));
        })));
        body.appendChild(tr);
      });
       if (list.length === 0) emptyRow(body, 5, "Nothing is due through " + day + ".");
      say("payouts-status", "ready", "");
    });
  }

  function pay(affiliate, through, currency) {
    return api("POST", "/api/v1/payouts", { affiliate: affiliate, through: through, currency: currency }).then(function (r) {
      if (!r.ok || !r.body) { say("payouts-status", "error", "Pay " + affiliate + ": " + errorText(r)); return; }
      var p = r.body;
      var li = document.createElement("li");
      li.setAttribute("data-testid", "payout-done");
      li.setAttribute("data-payout-id", String(p.payoutId));
      li.setAttribute("data-cents", String(p.amountCents));
      li.appendChild(document.createTextNode("Payout #" + p.payoutId + ": " + formatCents(p.amountCents, p.currency) +
        " to " + affiliate + " (" + (Array.isArray(p.lines) ? p.lines.length : 0) + " entries) "));
      li.appendChild(button("Download CSV", "payout-csv", function () { downloadCsv(p.payoutId, li); }));
      $("payouts-done").appendChild(li);
      say("payouts-status", "ready", "Paid " + affiliate + ".");
      loadDue();
      load({ quiet: true, keepLists: true });
    });
  }

  /* The CSV needs the key in a header: fetched here and offered as a blob link. */
  function downloadCsv(id, host) {
    return fetch("/api/v1/payouts/" + encodeURIComponent(String(id)) + ".csv", {
      headers: { Authorization: "Bearer " + currentKey() }, cache: "no-store"
    }).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.blob();
    }).then(function (blob) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "payout-" + id + ".csv";
      a.textContent = "payout-" + id + ".csv";
      a.setAttribute("data-testid", "payout-csv-link");
      host.appendChild(a);
      a.click();
    }).catch(function (e) { say("payouts-status", "error", "CSV: " + ((e && e.message) || e)); });
  }

  // ---------- sign in / out ----------

  function showSession() {
    var signedIn = !!session;
    $("signin-form").hidden = signedIn;
    $("session").hidden = !signedIn;
    $("report-form").hidden = !signedIn;
    $("admin").hidden = !(session && session.admin);
    root.setAttribute("data-signed-in", signedIn ? (session.admin ? "admin" : "read") : "no");
    if (!signedIn) {
      $("results").hidden = true;
      return;
    }
    $("session-tenant").textContent = session.tenant;
    $("session-key").textContent = session.keyId;
    $("session-scopes").textContent = session.scopes.join(", ");
  }

  function signIn(key) {
    key = (key || "").trim();
    if (!key) { setState("error", "Enter a read or admin key."); return Promise.resolve(false); }
    setState("loading", "Signing in…");
    return api("GET", "/api/v1/whoami", undefined, key).then(function (r) {
      if (!r.ok || !r.body) {
        saveKey("");
        session = null;
        showSession();
        setState("error", r.status === 401 ? "Sign-in refused: this key is not a valid read or admin key (HTTP 401)." : "Sign-in failed: " + errorText(r));
        root.setAttribute("data-error", "unauthorized");
        return false;
      }
      var scopes = Array.isArray(r.body.scopes) ? r.body.scopes.map(String) : [];
      session = {
        key: key, tenant: String(r.body.tenant), keyId: String(r.body.key_id), scopes: scopes,
        admin: scopes.indexOf("admin") >= 0
      };
      saveKey(key);
      $("api-key").value = "";
      showSession();
      load();
      return true;
    }).catch(function (e) {
      setState("error", "Cannot reach the collector (" + ((e && e.message) || e) + ").");
      root.setAttribute("data-error", "offline");
      return false;
    });
  }

  function signOut() {
    saveKey("");
    session = null;
    lastReport = null;
    setAuto(false);
    $("auto-refresh").checked = false;
    showSession();
    setState("idle", "Signed out.");
  }

  // ---------- wiring ----------

  function setAuto(on) {
    if (autoTimer) { clearInterval(autoTimer); autoTimer = null; }
    if (on) autoTimer = setInterval(function () { load({ quiet: true }); }, 5000);
  }

  function init() {
    try { localStorage.removeItem(KEY_STORAGE); } catch (e) { /* older versions kept it there */ }
    var q = new URLSearchParams(location.search);
    setRange(30);
    if (parseDay(q.get("from")) !== null) $("from").value = q.get("from");
    if (parseDay(q.get("to")) !== null) $("to").value = q.get("to");
    $("due-through").value = isoDay(todayUtc());

    $("signin-form").addEventListener("submit", function (ev) { ev.preventDefault(); signIn($("api-key").value); });
    $("signout").addEventListener("click", signOut);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
    Array.prototype.forEach.call(document.querySelectorAll(".presets button"), function (b) {
      b.addEventListener("click", function () { setRange(parseInt(b.getAttribute("data-days"), 10)); load(); });
    });
    $("chart-affiliate").addEventListener("change", renderCharts);
    $("auto-refresh").addEventListener("change", function () { setAuto(this.checked); });
    $("events-form").addEventListener("submit", function (ev) { ev.preventDefault(); loadEvents(false); });
    $("events-more").addEventListener("click", function () { loadEvents(true); });
    $("affiliate-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var code = $("affiliate-code").value.trim(), name = $("affiliate-name").value.trim();
      var body = { code: code };
      if (name) body.name = name;
      api("POST", "/api/v1/affiliates", body).then(function (r) {
        if (!r.ok) { say("affiliates-status", "error", "Add " + code + ": " + errorText(r)); return; }
        say("affiliates-status", "ready", "Affiliate " + code + " added: its link is any page with ?aff=" + encodeURIComponent(code) + ".");
        $("affiliate-code").value = "";
        $("affiliate-name").value = "";
        loadAffiliates();
      });
    });
    $("ctype-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var code = $("ctype-code").value.trim();
      var body = { code: code };
      body[$("ctype-kind").value] = $("ctype-value").value.trim();
      api("POST", "/api/v1/conversion-types", body).then(function (r) {
        if (!r.ok) { say("ctypes-status", "error", "Add " + code + ": " + errorText(r)); return; }
        say("ctypes-status", "ready", "Conversion type " + code + " added.");
        $("ctype-code").value = "";
        $("ctype-value").value = "";
        loadConversionTypes();
      });
    });
    $("due-form").addEventListener("submit", function (ev) { ev.preventDefault(); loadDue(); });
    $("join-enabled").addEventListener("change", saveProgram);
    $("auto-approve").addEventListener("change", saveProgram);
    $("webhook-form").addEventListener("submit", addWebhook);
    $("rules-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var doc;
      try { doc = JSON.parse($("rules-doc").value); } catch (e) {
        say("rules-status", "error", "Rules: not JSON (" + e.message + ")");
        return;
      }
      api("PUT", "/api/v1/rules", doc).then(function (r) {
        if (!r.ok) { say("rules-status", "error", "Rules: " + errorText(r)); return; }
        say("rules-status", "ready", "Rules saved.");
        $("rules-doc").value = JSON.stringify(r.body, null, 2);
      });
    });

    showSession();
    var kept = storedKey();
    if (kept) { signIn(kept); return; }
    // only a `--demo` collector knows the public demo key (its page says so): sign in with it
    // there, and never try it anywhere else
    if (document.body.getAttribute("data-demo") === "1") {
      $("api-key").value = DEMO_KEY;
      $("signin-hint").textContent = "Demo collector: demo_secret_key reads; demo_admin_key also manages affiliates and payouts.";
      signIn(DEMO_KEY);
    } else {
      setState("idle", "Sign in with a read or admin key of your tenant.");
    }
  }

  // exposed for tests and the console
  window.ClicktrailDashboard = { formatCents: formatCents, reload: load, signIn: signIn, signOut: signOut };

  init();
})();
