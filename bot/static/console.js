// The admin console's own script (no inline scripts: the CSP forbids them).
// Charts with the vendored uPlot; the QR reader on the check-in page lives in checkin.js.
(() => {
  const GREEN = "#2e7d32";
  const box = document.getElementById("charts");
  if (box && window.uPlot) draw(box);

  function width(el) { return Math.max(260, el.clientWidth || 300); }

  function draw(box) {
    const data = JSON.parse(box.dataset.charts);
    const labels = JSON.parse(box.dataset.labels);
    const el = document.getElementById("chart-days");
    const days = data.days.map((d) => Date.parse(d + "T00:00:00+08:00") / 1000);
    new uPlot({
      width: width(el), height: 240,
      series: [{}, { label: labels.pledges, stroke: GREEN, width: 2 },
               { label: labels.trees, stroke: "#c77700", width: 2 }],
    }, [days, data.pledges, data.trees], el);
    bars("chart-bases", data.bases, labels.bases);
    bars("chart-forms", data.forms, labels.forms);
    bars("chart-fill", data.fill, labels.fill);
  }

  function bars(id, pairs, label) {
    const el = document.getElementById(id);
    if (!el) return;
    if (!pairs.length) { el.textContent = "–"; return; }
    const xs = pairs.map((_, i) => i);
    new uPlot({
      width: width(el), height: 220, legend: { show: false },
      scales: { x: { time: false, range: [-0.6, pairs.length - 0.4] } },
      axes: [{ values: (u, vals) => vals.map((v) => (Number.isInteger(v) && pairs[v] ? pairs[v][0] : "")),
               size: 60 }, {}],
      series: [{}, { label: label, fill: "#81c784", stroke: GREEN,
                     paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }],
    }, [xs, pairs.map((p) => p[1])], el);
  }
})();
