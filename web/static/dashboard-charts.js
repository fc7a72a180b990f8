// Draws the dashboard charts from the JSON the page embeds (no inline script, so the
// page's Content-Security-Policy can forbid inline scripts altogether).
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#c0392b", "#1a5fb4", "#26a269", "#e5a50a", "#613583", "#1c71d8",
                 "#c64600", "#5e5c64", "#2ec27e", "#a51d2d", "#986a44"];
  function colour(i) { return palette[i % palette.length]; }
  function draw(id, type, chartData, options) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    chartData.datasets.forEach(function (set, i) {
      set.backgroundColor = colour(i);
      set.borderColor = colour(i);
    });
    new Chart(canvas, { type: type, data: chartData, options: Object.assign({
      responsive: true, maintainAspectRatio: true, animation: false,
      plugins: { legend: { position: "bottom" } }
    }, options || {}) });
  }
  draw("chart-weekly", "bar", data.weekly, { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } });
  draw("chart-durations", "bar", data.durations, { scales: { y: { beginAtZero: true } } });
  draw("chart-satisfaction", "bar", data.satisfaction, { indexAxis: "y", scales: { x: { min: 0, max: 5 } } });
  document.body.setAttribute("data-charts-drawn", "yes");
}());
