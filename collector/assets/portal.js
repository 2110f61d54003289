// The affiliate portal: reads `<this URL>.json` and fills the page. Every value is written
// with textContent (never as HTML); the chart is SVG built with DOM calls.
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var SVG = "http://www.w3.org/2000/svg";
  var currency = "USD";
  var data = null;
  function money(cents) {
    var n = Number(cents) / 100;
    try {
      return n.toLocaleString(undefined, { style: "currency", currency: currency });
    } catch (e) {
      return n.toFixed(2) + " " + currency;
    }
  }
  function day(unix) {
    return new Date(Number(unix) * 1000).toISOString().slice(0, 10);
  }
  function row(body, cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = document.createElement("td");
      td.textContent = String(c[0]);
      if (c[1]) td.className = "n";
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
  function fail(message) {
    $("error").hidden = false;
    $("error").textContent = message;
  }
  function copy(text, button) {
    var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { button.textContent = "Select and copy"; });
    } else {
      button.textContent = "Select and copy";
    }
  }
  // A link to `page` for this affiliate, or an error when the page is not the shop's.
  function build(page) {
    var u;
    try { u = new URL(page.trim()); } catch (e) { throw new Error("not an address such as https://shop.example.com/page"); }
    if (data.origins.indexOf(u.origin) < 0) throw new Error("not a page of the shop (" + data.origins.join(", ") + ")");
    u.searchParams.set(data.linkParameter, data.affiliate);
    return u.toString();
  }
  // partnerLink(page, key): the page with `gspk` = Base64 of the partner key (as PartnerStack's
  // links carry it); `build` has checked the page.
  function partnerLink(page, key) {
    var u = new URL(page.trim());
    u.searchParams.set("gspk", btoa(key));
    return u.toString();
  }
  function listItem(list, text, testid) {
    var li = document.createElement("li");
    var code = document.createElement("code");
    code.textContent = text;
    code.setAttribute("data-testid", testid);
    li.appendChild(code);
    list.appendChild(li);
  }
  // csv(rows): RFC 4180 text; a cell starting with = + - @ is prefixed with ' (spreadsheets).
  function csv(rows) {
    return rows.map(function (r) {
      return r.map(function (v) {
        var s = String(v == null ? "" : v);
        if (/^[=+\-@]/.test(s)) s = "'" + s;
        return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
      }).join(",");
    }).join("\r\n") + "\r\n";
  }
  function download(name, text) {
    var a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  function cents(c) { return (Number(c) / 100).toFixed(2); }
  // The last 30 days (today included), zeros where nothing happened.
  function series(days) {
    var by = {};
    days.forEach(function (d) { by[d.date] = d; });
    var out = [];
    var now = Date.now();
    for (var i = 29; i >= 0; i--) {
      var key = new Date(now - i * 86400000).toISOString().slice(0, 10);
      var d = by[key] || {};
      out.push({ date: key, clicks: d.clicks || 0, leads: d.leads || 0, conversions: d.conversions || 0,
        commission: Number(d.commissionCents || 0) });
    }
    return out;
  }
  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (parent) parent.appendChild(e);
    return e;
  }
  // Bars: clicks, sign-ups, conversions per day (left scale); line: commission (own scale).
  function chart(days) {
    var s = series(days);
    var W = 900, H = 220, L = 36, B = 24, T = 10, R = 10;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    var max = 1, maxC = 1;
    s.forEach(function (d) { max = Math.max(max, d.clicks, d.leads, d.conversions); maxC = Math.max(maxC, d.commission); });
    var slot = (W - L - R) / s.length, bw = Math.max(2, slot / 4);
    var y = function (v) { return H - B - (v / max) * (H - B - T); };
    el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#8a93a6" }, svg);
    var top = el("text", { x: 2, y: T + 10, "font-size": 11, fill: "#5a6478" }, svg);
    top.textContent = String(max);
    var colors = [["clicks", "#3b6fd8"], ["leads", "#7a4fd0"], ["conversions", "#1c8a4a"]];
    var points = [];
    s.forEach(function (d, i) {
      var x0 = L + i * slot + (slot - 3 * bw) / 2;
      colors.forEach(function (c, j) {
        var v = d[c[0]];
        if (!v) return;
        var r = el("rect", { x: x0 + j * bw, y: y(v), width: bw - 1, height: H - B - y(v), fill: c[1],
          "data-date": d.date, "data-series": c[0], "data-value": v }, svg);
        el("title", {}, r).textContent = d.date + ": " + v + " " + c[0];
      });
      points.push((L + i * slot + slot / 2) + "," + (H - B - (d.commission / maxC) * (H - B - T)));
      if (i % 5 === 0 || i === s.length - 1) {
        var t = el("text", { x: L + i * slot, y: H - 6, "font-size": 11, fill: "#5a6478" }, svg);
        t.textContent = d.date.slice(5);
      }
    });
    el("polyline", { points: points.join(" "), fill: "none", stroke: "#d08a1c", "stroke-width": 2 }, svg);
    $("chart").textContent = "";
    $("chart").appendChild(svg);
    $("legend").textContent = "";
    colors.concat([["commission", "#d08a1c"]]).forEach(function (c) {
      var span = document.createElement("span");
      var i = document.createElement("i");
      i.style.background = c[1];
      span.appendChild(i);
      var total = s.reduce(function (a, d) { return a + d[c[0]]; }, 0);
      span.appendChild(document.createTextNode((c[0] === "leads" ? "sign-ups" : c[0]) + ": " +
        (c[0] === "commission" ? money(total) : total)));
      span.setAttribute("data-series", c[0]);
      $("legend").appendChild(span);
    });
  }
  var base = location.pathname.replace(/\/$/, "");
  fetch(base + ".json", { credentials: "omit", cache: "no-store" })
    .then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body && body.error && body.error.message) || "HTTP " + r.status);
        return body;
      });
    })
    .then(function (d) {
      data = d;
      currency = d.currency || currency;
      document.title = d.program + ": affiliate portal";
      $("affiliate").textContent = d.affiliate;
      $("clicks").textContent = d.totals.clicks;
      $("leads").textContent = d.totals.leads;
      $("conversions").textContent = d.totals.conversions;
      $("pending").textContent = money(d.ledger.pendingCents);
      $("approved").textContent = money(d.ledger.approvedCents);
      $("paid").textContent = money(d.ledger.paidCents);
      $("reversed").textContent = money(d.ledger.reversedCents);
      $("param").textContent = "?" + d.linkParameter + "=" + d.affiliate;
      (d.couponCodes || []).forEach(function (c) { listItem($("coupon-codes"), c, "coupon-code"); });
      $("coupons").hidden = !(d.couponCodes || []).length;
      $("share-link").textContent = d.shareLink || "(the program has not set its shop's address)";
      $("copy-share").hidden = !d.shareLink;
      $("copy-share").addEventListener("click", function () { copy(d.shareLink, $("copy-share")); });
      $("origins").textContent = d.origins.join(", ") || "none set";
      d.links.forEach(function (l) {
        var li = document.createElement("li");
        var code = document.createElement("code");
        code.textContent = l;
        li.appendChild(code);
        $("links").appendChild(li);
      });
      chart(d.days);
      d.conversions.forEach(function (c) {
        row($("conversion-rows"), [[day(c.createdAt)], [c.conversionType], [c.status],
          [money(c.amountCents), 1], [money(c.commissionCents), 1], [c.rule || ""]]);
      });
      d.payouts.forEach(function (p) {
        row($("payout-rows"), [[day(p.createdAt)], ["#" + p.payoutId], [String(p.through).slice(0, 10)],
          [money(p.amountCents), 1]]);
      });
      d.days.slice().reverse().forEach(function (x) {
        row($("day-rows"), [[x.date], [x.clicks, 1], [x.leads, 1], [x.conversions, 1],
          [money(x.commissionCents), 1]]);
      });
      if (d.payoutDetails) {
        $("details-method").value = d.payoutDetails.method;
        $("details-address").value = d.payoutDetails.address;
      }
      $("content").hidden = false;
    })
    .catch(function (e) { fail(e.message || String(e)); });

  $("builder-go").addEventListener("click", function () {
    $("builder-error").hidden = true;
    $("builder-result").hidden = true;
    $("partner-result").hidden = true;
    try {
      var link = build($("builder-url").value);
      $("built-link").textContent = link;
      $("built-link").href = link;
      $("builder-result").hidden = false;
      $("partner-links").textContent = "";
      (data.partnerKeys || []).forEach(function (k) {
        listItem($("partner-links"), partnerLink($("builder-url").value, k), "partner-link");
      });
      $("partner-result").hidden = !(data.partnerKeys || []).length;
    } catch (e) {
      $("builder-error").textContent = e.message;
      $("builder-error").hidden = false;
    }
  });
  $("copy-built").addEventListener("click", function () { copy($("built-link").textContent, $("copy-built")); });
  $("csv-conversions").addEventListener("click", function () {
    download(data.affiliate + "-conversions.csv", csv([["date", "id", "type", "status", "amount", "commission", "currency"]]
      .concat(data.conversions.map(function (c) {
        return [day(c.createdAt), c.id, c.conversionType, c.status, cents(c.amountCents), cents(c.commissionCents), c.currency];
      }))));
  });
  $("csv-payouts").addEventListener("click", function () {
    download(data.affiliate + "-payouts.csv", csv([["date", "payout", "through", "amount", "currency"]]
      .concat(data.payouts.map(function (p) {
        return [day(p.createdAt), p.payoutId, String(p.through).slice(0, 10), cents(p.amountCents), p.currency];
      }))));
  });
  $("details").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var status = $("details-status");
    status.className = "";
    status.textContent = "Saving…";
    fetch(base + "/payout-details", {
      method: "PUT", credentials: "omit", cache: "no-store",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ method: $("details-method").value, address: $("details-address").value }),
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body && body.error && body.error.message) || "HTTP " + r.status);
        status.className = "ok";
        status.textContent = "Saved.";
      });
    }).catch(function (e) { status.className = "error"; status.textContent = e.message; });
  });
})();
