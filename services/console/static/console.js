// mes-sandbox · console des flux: small progressive enhancements (the pages work without).
// 1. Live regions: [data-live-state] is polled; when its "version" changes, the region is
//    refreshed from [data-live-fragment].
// 2. Diagram arrows open the exchange in the side panel instead of a new page.
(function () {
  "use strict";

  function poll(region) {
    var stateUrl = region.getAttribute("data-live-state");
    var fragmentUrl = region.getAttribute("data-live-fragment");
    var every = parseInt(region.getAttribute("data-live-every") || "1500", 10);
    var busy = false;
    function tick() {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(stateUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) {
          if (!state || state.version === region.getAttribute("data-live-version")) { return null; }
          region.setAttribute("data-live-version", state.version);
          return fetch(fragmentUrl, { credentials: "same-origin" }).then(function (r) { return r.text(); })
            .then(function (html) { region.innerHTML = html; wireDiagrams(region); });
        })
        .catch(function () { /* the sandbox may be restarting: try again later */ })
        .then(function () { busy = false; });
    }
    setInterval(tick, every);
  }

  function select(svg, key) {
    svg.querySelectorAll("g.selected, g[data-selected]").forEach(function (g) {
      g.classList.remove("selected");
      g.removeAttribute("data-selected");
    });
    svg.querySelectorAll('g[data-key="' + key + '"]').forEach(function (g) { g.classList.add("selected"); });
  }

  function wireDiagrams(root) {
    var panel = document.getElementById("exchange-panel");
    if (!panel) { return; }
    root.querySelectorAll(".diagram svg").forEach(function (svg) {
      svg.querySelectorAll("g[data-key] a").forEach(function (link) {
        link.addEventListener("click", function (event) {
          var href = link.getAttribute("href");
          if (!href) { return; }
          event.preventDefault();
          var group = link.closest("g[data-key]");
          select(svg, group.getAttribute("data-key"));
          fetch(href + (href.indexOf("?") < 0 ? "?" : "&") + "fragment=1", { credentials: "same-origin" })
            .then(function (r) { return r.text(); })
            .then(function (html) { panel.innerHTML = html; panel.scrollIntoView({ block: "nearest" }); });
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-state]").forEach(poll);
    wireDiagrams(document);
  });
})();
