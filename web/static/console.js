// The console's own script: no inline script anywhere (the CSP forbids it), so the few behaviours
// pages need are wired here by data attributes.
(function () {
  "use strict";

  // Sign-in sends the browser's zone, so dates show in the user's zone.
  function fillTimezone() {
    document.querySelectorAll("input[data-timezone]").forEach(function (input) {
      try {
        input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
      } catch (e) {
        input.value = "UTC";
      }
    });
  }

  // A chart: <canvas data-chart="ID"> with <script type="application/json" id="ID"> holding
  // Chart.js's {type, data, options}. Loaded only on pages that include chart.umd.min.js.
  function drawCharts(root) {
    if (typeof window.Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      canvas.dataset.drawn = "1";
      new window.Chart(canvas, JSON.parse(source.textContent));
    });
  }

  // <form data-confirm="question">: asks before a change that cannot be undone.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    fillTimezone();
    drawCharts(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    drawCharts(event.target);
  });
})();
