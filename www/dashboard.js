/* clicktrail dashboard: GET /api/v1/report -> funnel, per-day SVG charts, per-affiliate table.
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

  // ---------- API key ----------

  function loadKey() {
    try {
      var k = localStorage.getItem(KEY_STORAGE);
      if (k) $("api-key").value = k;
    } catch (e) { /* storage disabled: keep the default */ }
  }

  function saveKey(k) {
    try { localStorage.setItem(KEY_STORAGE, k); } catch (e) { /* ignore */ }
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
    var key = $("api-key").value.trim();
    var from = $("from").value, to = $("to").value;
    if (!key) { showError("Enter the tenant's API key."); return; }
    if (parseDay(from) === null || parseDay(to) === null) { showError("Pick both dates."); return; }
    if (parseDay(from) > parseDay(to)) { showError("“From” is after “To”."); return; }
    saveKey(key);

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
          showError("Access refused: wrong API key (HTTP 401). The demo tenant's key is demo_secret_key.", "unauthorized");
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

  // ---------- wiring ----------

  function setAuto(on) {
    if (autoTimer) { clearInterval(autoTimer); autoTimer = null; }
    if (on) autoTimer = setInterval(function () { load({ quiet: true }); }, 5000);
  }

  function init() {
    loadKey();
    var q = new URLSearchParams(location.search);
    setRange(30);
    if (parseDay(q.get("from")) !== null) $("from").value = q.get("from");
    if (parseDay(q.get("to")) !== null) $("to").value = q.get("to");

    form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
    Array.prototype.forEach.call(document.querySelectorAll(".presets button"), function (b) {
      b.addEventListener("click", function () { setRange(parseInt(b.getAttribute("data-days"), 10)); load(); });
    });
    $("chart-affiliate").addEventListener("change", renderCharts);
    $("auto-refresh").addEventListener("change", function () { setAuto(this.checked); });
    load();
  }

  // exposed for tests and the console
  window.ClicktrailDashboard = { formatCents: formatCents, reload: load };

  init();
})();
