// modelregistry console: live updates through Server-Sent Events.
// Served from the registry (no inline script: the CSP forbids it).
(function () {
  "use strict";
  var body = document.body;
  if (!body || body.getAttribute("data-live") !== "on" || !window.EventSource) {
    return;
  }
  var name = body.getAttribute("data-live-name") || "";
  var status = document.getElementById("live-status");
  var pending = null;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  // A region is left alone while the viewer is using a form in it: its
  // hidden fields (an alias's expected version) stay what the viewer saw.
  function busy(region) {
    var active = document.activeElement;
    if (active && region.contains(active) && active.form) {
      return true;
    }
    var fields = region.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "hidden") continue;
      if ((f.type === "checkbox" || f.type === "radio") ? f.checked !== f.defaultChecked : f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  function refresh(summary) {
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var kept = 0;
        document.querySelectorAll("[data-live-region]").forEach(function (region) {
          var key = region.getAttribute("data-live-region");
          var next = fresh.querySelector('[data-live-region="' + key + '"]');
          if (!next) return;
          if (busy(region)) {
            region.setAttribute("data-stale", "true");
            kept++;
            return;
          }
          region.replaceWith(document.importNode(next, true));
        });
        var time = new Date().toISOString().slice(11, 19);
        say("Updated at " + time + " UTC: " + summary + (kept ? " (a form you are editing was left as it was)" : ""));
      })
      .catch(function () {
        say("This page changed: " + summary + ". Reload to see it.");
      });
  }

  var source = new EventSource("/live?name=" + encodeURIComponent(name));
  source.onmessage = function (message) {
    var event;
    try {
      event = JSON.parse(message.data);
    } catch (e) {
      return;
    }
    var summary = String(event.kind).replace(/_/g, " ") + (event.version ? " v" + event.version : "") + " by " + event.actor;
    // Several events in a burst (a promotion archives others): one refresh.
    if (pending) clearTimeout(pending);
    pending = setTimeout(function () {
      pending = null;
      refresh(summary);
    }, 150);
  };
  body.setAttribute("data-live-connected", "pending");
  source.onopen = function () {
    body.setAttribute("data-live-connected", "true");
  };
})();
