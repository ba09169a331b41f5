// Draws the page's charts from its JSON block (#dashboard-charts): data, not code, so
// the Content-Security-Policy can forbid inline script. Labels are mothers' words and
// ops' codes: plotly reads a few HTML tags in text, so every label goes in escaped.
(function () {
  "use strict";
  var block = document.getElementById("dashboard-charts");
  if (!block || typeof Plotly === "undefined") { return; }
  var charts;
  try { charts = JSON.parse(block.textContent); } catch (e) { return; }

  function text(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  charts.forEach(function (chart) {
    var el = document.getElementById("chart-" + chart.id);
    if (!el) { return; }
    var x = chart.x.map(text);
    var traces = chart.series.map(function (s) {
      var trace = { name: text(s.name), x: x, y: s.y, type: chart.kind === "line" ? "scatter" : "bar" };
      if (chart.kind === "line") { trace.mode = "lines+markers"; }
      if (chart.percent) { trace.hovertemplate = "%{x}: %{y:.1%}<extra></extra>"; }
      return trace;
    });
    var layout = {
      margin: { l: 44, r: 12, t: 10, b: 40 },
      barmode: "group",
      showlegend: traces.length > 1,
      legend: { orientation: "h", y: -0.2 },
      yaxis: chart.percent ? { tickformat: ".0%", rangemode: "tozero" } : { rangemode: "tozero" },
      xaxis: chart.dates
        ? { type: "date", tickformat: "%m-%d", hoverformat: "%Y-%m-%d", automargin: true }
        : { type: "category", automargin: true },
      font: { size: 12 }
    };
    Plotly.newPlot(el, traces, layout, { displayModeBar: false, responsive: true, staticPlot: false });
  });
})();
