// Every script error and console.error lands in #page-errors, so a reader
// sees that a chart failed and a headless browser's test can read it.
(function () {
  "use strict";
  var seen = [];
  function show() {
    var el = document.getElementById("page-errors");
    if (!el || !seen.length) return;
    el.hidden = false;
    el.textContent = "This page had errors: " + seen.join(" | ");
  }
  function add(msg) {
    seen.push(String(msg));
    show();
  }
  window.addEventListener("error", function (e) {
    add((e.message || "error") + (e.filename ? " (" + e.filename + ":" + e.lineno + ")" : ""));
  });
  window.addEventListener("unhandledrejection", function (e) {
    add("unhandled rejection: " + e.reason);
  });
  var orig = console.error;
  console.error = function () {
    add(Array.prototype.map.call(arguments, String).join(" "));
    return orig.apply(console, arguments);
  };
  document.addEventListener("DOMContentLoaded", show);
})();
