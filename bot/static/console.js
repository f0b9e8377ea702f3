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
    const anything = data.pledges.some((n) => n > 0) || data.trees.some((n) => n > 0);
    if (!anything) empty(el, labels.empty);
    else new uPlot({
      width: width(el), height: 240,
      axes: [{ values: (u, ticks) => ticks.map((t) => monthDay(t)) }, {}],
      series: [{ label: labels.day, value: (u, t) => (t == null ? "–" : data.days[days.indexOf(t)] || monthDay(t)) },
               { label: labels.pledges, stroke: GREEN, width: 2 },
               { label: labels.trees, stroke: "#c77700", width: 2 }],
    }, [days, data.pledges, data.trees], el);
    bars("chart-bases", data.bases, labels.bases, labels.empty);
    bars("chart-forms", data.forms, labels.forms, labels.empty);
    bars("chart-fill", data.fill, labels.fill, labels.empty);
  }

  // A day as the programme's calendar has it (Asia/Shanghai), in numbers every reader reads.
  function monthDay(t) {
    const d = new Date((t + 8 * 3600) * 1000);
    return (d.getUTCMonth() + 1) + "/" + d.getUTCDate();
  }

  function empty(el, text) {
    const p = document.createElement("p");
    p.className = "empty muted";
    p.textContent = text;
    el.replaceChildren(p);
  }

  function bars(id, pairs, label, nothing) {
    const el = document.getElementById(id);
    if (!el) return;
    if (!pairs.length) { empty(el, nothing); return; }
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
