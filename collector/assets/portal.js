// The affiliate portal: reads `<this URL>.json` and fills the page. Every value is written
// with textContent (never as HTML).
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var currency = "USD";
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
  fetch(location.pathname.replace(/\/$/, "") + ".json", { credentials: "omit", cache: "no-store" })
    .then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body && body.error && body.error.message) || "HTTP " + r.status);
        return body;
      });
    })
    .then(function (d) {
      currency = d.currency || currency;
      $("affiliate").textContent = d.affiliate;
      $("clicks").textContent = d.totals.clicks;
      $("leads").textContent = d.totals.leads;
      $("conversions").textContent = d.totals.conversions;
      $("pending").textContent = money(d.ledger.pendingCents);
      $("approved").textContent = money(d.ledger.approvedCents);
      $("paid").textContent = money(d.ledger.paidCents);
      $("reversed").textContent = money(d.ledger.reversedCents);
      $("param").textContent = "?" + d.linkParameter + "=" + d.affiliate;
      d.links.forEach(function (l) {
        var li = document.createElement("li");
        var code = document.createElement("code");
        code.textContent = l;
        li.appendChild(code);
        $("links").appendChild(li);
      });
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
      $("content").hidden = false;
    })
    .catch(function (e) { fail(e.message || String(e)); });
})();
