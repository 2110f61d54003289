// The join page: the program's name from /join/{tenant}/program.json, the form posted as
// JSON to /join/{tenant}/apply. A 422 names the bad field, which is focused. Text only ever
// goes in with textContent.
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var tenant = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop() || "");
  var base = "/join/" + encodeURIComponent(tenant);
  var fields = ["name", "email", "website", "promotion", "code", "fax"];
  function answer(r) {
    return r.json().catch(function () { return {}; }).then(function (body) {
      if (!r.ok) {
        var e = new Error((body.error && body.error.message) || "HTTP " + r.status);
        e.field = body.error && body.error.field;
        throw e;
      }
      return body;
    });
  }
  fetch(base + "/program.json", { cache: "no-store" }).then(answer).then(function (p) {
    $("program").textContent = p.name;
    document.title = "Become an affiliate of " + p.name;
    $("apply").hidden = false;
  }).catch(function (e) {
    $("program").textContent = tenant;
    $("closed").textContent = e.message;
    $("closed").hidden = false;
  });
  $("apply").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = {};
    fields.forEach(function (f) { body[f] = $(f).value; });
    $("error").hidden = true;
    $("send").disabled = true;
    fetch(base + "/apply", {
      method: "POST", cache: "no-store",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(answer).then(function (ok) {
      $("apply").hidden = true;
      $("done").textContent = ok.message;
      $("done").hidden = false;
    }).catch(function (e) {
      $("error").textContent = (e.field ? e.field + ": " : "") + e.message;
      $("error").hidden = false;
      if (e.field && $(e.field)) $(e.field).focus();
    }).then(function () { $("send").disabled = false; });
  });
})();
