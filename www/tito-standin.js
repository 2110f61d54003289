/* A stand-in for Tito's widget script (https://js.tito.io/v2), for the demo only.
 *
 * It honours the same queue protocol as Tito:
 *   window.tito = window.tito || function () { (tito.q = tito.q || []).push(arguments); };
 *   tito('on:registration:finished', function (data) { ... });
 * When this script loads it replays tito.q (registering handlers queued before it
 * arrived), then replaces window.tito with a real function, so later calls register
 * at once. It renders a small registration form into every <tito-widget> element; on
 * submit it fires 'on:registration:started' and then every 'on:registration:finished'
 * handler with {email, name, reference, ...} like Tito does.
 */
(function () {
  "use strict";
  if (window.tito && window.tito.__standin) return; // loaded twice: keep the first

  var handlers = {}; // event name -> [fn]
  var counter = 0;

  function on(eventName, fn) {
    if (typeof eventName !== "string" || typeof fn !== "function") return;
    (handlers[eventName] = handlers[eventName] || []).push(fn);
  }

  function fire(eventName, data) {
    (handlers[eventName] || []).slice().forEach(function (fn) {
      try {
        fn(data);
      } catch (e) {
        // a broken handler must not stop the others (nor the widget)
        if (window.console) console.error("tito stand-in: a '" + eventName + "' handler threw:", e);
      }
    });
  }

  function tito(command) {
    var args = Array.prototype.slice.call(arguments, 1);
    if (typeof command === "string" && command.indexOf("on:") === 0) {
      on(command.slice(3), args[0]);
    } else if (command === "widget") {
      // tito('widget', element, options): render into a given element
      if (args[0] && args[0].nodeType === 1) render(args[0]);
    }
  }
  tito.__standin = true;

  // replay what was queued before we arrived, in order
  var queued = (window.tito && window.tito.q) || [];
  window.tito = tito;
  for (var i = 0; i < queued.length; i++) {
    try {
      tito.apply(null, Array.prototype.slice.call(queued[i]));
    } catch (e) {
      if (window.console) console.error("tito stand-in: bad queued call", e);
    }
  }

  function reference() {
    var letters = "ABCDEFGHJKLMNPQRSTUVWXYZ";
    var s = "";
    for (var i = 0; i < 4; i++) s += letters.charAt(Math.floor(Math.random() * letters.length));
    counter += 1;
    return s + "-" + counter;
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return e;
  }

  function render(host) {
    if (host.__titoRendered) return;
    host.__titoRendered = true;
    var eventSlug = host.getAttribute("event") || "demo/event";
    var form = el("form", { "class": "tito-form", "data-testid": "tito-form" });
    var name = el("input", { name: "name", required: "", "data-testid": "tito-name", placeholder: "Ada Lovelace" });
    var email = el("input", { name: "email", type: "email", "data-testid": "tito-email", placeholder: "ada@example.com" });
    var ticket = el("select", { name: "ticket", "data-testid": "tito-ticket" });
    ticket.appendChild(el("option", { value: "general" }, "General admission — free"));
    ticket.appendChild(el("option", { value: "supporter" }, "Supporter — free"));
    var l1 = el("label", {}, "Name "); l1.appendChild(name);
    var l2 = el("label", {}, "Email "); l2.appendChild(email);
    var l3 = el("label", {}, "Ticket "); l3.appendChild(ticket);
    var submit = el("button", { type: "submit", "class": "primary", "data-testid": "tito-submit" }, "Register");
    var out = el("p", { "class": "result", "data-testid": "tito-result", hidden: "" });
    form.appendChild(el("p", { "class": "tito-badge" }, "Tito (stand-in) · " + eventSlug));
    form.appendChild(l1);
    form.appendChild(l2);
    form.appendChild(l3);
    form.appendChild(submit);
    form.appendChild(out);
    host.appendChild(form);

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var full = name.value.trim();
      var parts = full.split(/\s+/);
      var data = {
        reference: reference(),
        slug: eventSlug.split("/").pop() + "-" + Date.now().toString(36),
        name: full,
        first_name: parts[0] || "",
        last_name: parts.slice(1).join(" "),
        email: email.value.trim(),
        phone_number: null,
        event: { slug: eventSlug },
        tickets: [{ release_title: ticket.options[ticket.selectedIndex].text, email: email.value.trim(), name: full }]
      };
      fire("registration:started", { email: data.email, name: data.name });
      fire("registration:finished", data);
      out.hidden = false;
      out.className = "result ok";
      out.setAttribute("data-state", "ok");
      out.setAttribute("data-reference", data.reference);
      out.textContent = "Registered! Your reference is " + data.reference + ".";
    });
  }

  function renderAll() {
    var hosts = document.querySelectorAll("tito-widget");
    for (var i = 0; i < hosts.length; i++) render(hosts[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", renderAll);
  else renderAll();
})();
