/* casetrail reviewer console: the replay slider's label and the report charts (ECharts). */
(function () {
  "use strict";
  var slider = document.getElementById("replay-slider");
  if (slider) {
    slider.addEventListener("input", function () {
      document.getElementById("replay-label").textContent = slider.value;
    });
  }
  var data = document.getElementById("chart-data");
  if (!data || typeof echarts === "undefined") return;
  var charts = JSON.parse(data.textContent || "{}");
  var labels = JSON.parse(document.getElementById("chart-labels").textContent || "{}");
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var spec = charts[el.getAttribute("data-chart")];
    if (!spec) return;
    var names = Object.keys(spec.series);
    var chart = echarts.init(el, null, {renderer: "canvas"});
    chart.setOption({
      animation: false,
      tooltip: {trigger: "axis"},
      legend: {data: names.map(function (n) { return labels[n] || n; })},
      xAxis: {type: "category", data: spec.x},
      yAxis: [{type: "value", name: "%", min: 0, max: 100}, {type: "value", name: "#", minInterval: 1}],
      series: names.map(function (n) {
        var count = n === "reopened";
        return {name: labels[n] || n, type: count ? "bar" : "line", yAxisIndex: count ? 1 : 0,
                data: spec.series[n], connectNulls: true};
      })
    });
    el.setAttribute("data-rendered", "true");
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
