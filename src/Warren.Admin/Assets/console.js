// Warren console: live charts fed by Server-Sent Events (docs/console.md, "Live charts").
// The page names its charts with data attributes; the server's first event carries each chart's history, every
// later one (once a second) one new point per chart. No inline script anywhere: the CSP allows only this file and uPlot.
(function () {
  "use strict";
  var colors = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
  var charts = {};   // "key|pick" -> { plot, data, pick }
  var points = 120;  // seconds shown
  window.warrenCharts = charts; // read by the browser tests and handy in the devtools

  function formatter(unit) {
    return function (self, ticks) {
      return ticks.map(function (v) { return format(v, unit); });
    };
  }

  function format(v, unit) {
    if (v == null || isNaN(v)) return "–";
    if (unit === "bytes") {
      var u = ["B", "kB", "MB", "GB", "TB"], i = 0;
      while (Math.abs(v) >= 1000 && i < u.length - 1) { v /= 1000; i++; }
      return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + u[i] + (unit === "bytes" ? "/s" : "");
    }
    if (unit === "ms") return (v < 10 ? v.toFixed(2) : v.toFixed(0)) + " ms";
    if (v >= 100 || Number.isInteger(v)) return v.toFixed(0);
    return v.toFixed(2);
  }

  function makeChart(el) {
    var labels = el.dataset.labels.split(",");
    var pick = el.dataset.pick.split(",").map(Number);
    var unit = el.dataset.unit || "";
    var width = Math.max(200, el.clientWidth || 320);
    var height = Number(el.dataset.height || 140);
    var series = [{}];
    labels.forEach(function (label, i) {
      series.push({ label: label, stroke: colors[i % colors.length], width: 1.5, value: function (u, v) { return format(v, unit); } });
    });
    var data = [[]];
    pick.forEach(function () { data.push([]); });
    var opts = {
      width: width, height: height, series: series,
      legend: { show: el.dataset.legend !== "false" },
      cursor: { show: el.dataset.legend !== "false" },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
      axes: [{ show: el.dataset.axes !== "false" }, { show: el.dataset.axes !== "false", values: formatter(unit), size: 60 }],
    };
    if (el.dataset.static) data = JSON.parse(el.dataset.static);
    var plot = new uPlot(opts, data, el);
    var chart = { plot: plot, data: data, pick: pick, key: el.dataset.chart, points: 0, fixed: !!el.dataset.static };
    charts[el.dataset.chart + "|" + el.dataset.pick] = chart;
    return chart;
  }

  function push(chart, t, vector) {
    chart.data[0].push(t);
    chart.pick.forEach(function (index, i) { chart.data[i + 1].push(vector[index]); });
    if (chart.data[0].length > points) chart.data.forEach(function (s) { s.shift(); });
    chart.points++;
    chart.plot.setData(chart.data);
  }

  function load(chart, history) {
    chart.data[0].length = 0;
    chart.pick.forEach(function (index, i) { chart.data[i + 1].length = 0; });
    history.t.forEach(function (t, n) {
      chart.data[0].push(t);
      chart.pick.forEach(function (index, i) { chart.data[i + 1].push(history.v[n][index]); });
    });
    chart.points = history.t.length;
    chart.plot.setData(chart.data);
  }

  function updateValues(key, vector) {
    document.querySelectorAll('[data-value="' + CSS.escape(key) + '"]').forEach(function (el) {
      el.textContent = format(vector[Number(el.dataset.index)], el.dataset.unit || "");
    });
  }

  function start() {
    var live = document.querySelector("[data-live]");
    var made = [];
    document.querySelectorAll(".chart[data-chart]").forEach(function (el) { made.push(makeChart(el)); });
    if (!live) return;
    var source = new EventSource(live.dataset.live);
    source.onmessage = function (message) {
      var event = JSON.parse(message.data);
      made.forEach(function (chart) {
        if (chart.fixed) return;
        var entry = event.charts[chart.key];
        if (!entry) return;
        if (event.history) load(chart, entry); else push(chart, event.t, entry);
      });
      Object.keys(event.charts).forEach(function (key) {
        var entry = event.charts[key];
        var vector = event.history ? (entry.v.length ? entry.v[entry.v.length - 1] : null) : entry;
        if (vector) updateValues(key, vector);
      });
      var status = document.getElementById("live-status");
      if (status) status.textContent = "live";
    };
    source.onerror = function () {
      var status = document.getElementById("live-status");
      if (status) status.textContent = "reconnecting…";
    };
  }

  // Buttons that ask first (revoke a token): a plain form post once confirmed.
  document.addEventListener("submit", function (e) {
    var ask = e.target.dataset && e.target.dataset.confirm;
    if (ask && !window.confirm(ask)) e.preventDefault();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
