// Draws the charts of #chart-data with uPlot. Each chart's <figure> gets
// data-drawn="<points>" once uPlot has drawn its data.
(function () {
  "use strict";
  var charts = JSON.parse(document.getElementById("chart-data").textContent);
  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
  var WATERMARK = { free: "#1f77b4", min: "#c62828", low: "#ef6c00", high: "#2e7d32" };
  var MARK = { oom: "#b00020", fail: "#e65100" };
  var dpr = window.devicePixelRatio || 1;

  function fixed(v, d) {
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(Math.min(d, 1)) : v.toFixed(d);
  }
  function bytes(v) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0, a = Math.abs(v);
    while (a >= 1024 && i < units.length - 1) { a /= 1024; v /= 1024; i++; }
    return fixed(v, i ? 2 : 0) + " " + units[i];
  }
  function si(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return fixed(v / 1e9, 2) + "G";
    if (a >= 1e6) return fixed(v / 1e6, 2) + "M";
    if (a >= 1e3) return fixed(v / 1e3, 2) + "k";
    return a >= 1 || a === 0 ? fixed(v, 1).replace(/\.0$/, "") : v.toPrecision(2);
  }
  function ns(v) {
    if (v >= 1e9) return fixed(v / 1e9, 2) + " s";
    if (v >= 1e6) return fixed(v / 1e6, 2) + " ms";
    if (v >= 1e3) return fixed(v / 1e3, 2) + " µs";
    return v.toFixed(0) + " ns";
  }
  function value(unit, v) {
    if (v == null) return "-";
    switch (unit) {
      case "bytes": return bytes(v);
      case "ratio": return (v * 100).toFixed(1) + "%";
      case "pages": return si(v);
      case "pages/s": return si(v) + "/s";
      case "/s": return si(v) + "/s";
      default: return si(v);
    }
  }
  // Time of day in UTC, with as many decimals of the second as the ticks'
  // spacing needs.
  function clock(x, incr) {
    var t = new Date(x * 1000).toISOString().slice(11, 23);
    return incr >= 1 ? t.slice(0, 8) : incr >= 0.1 ? t.slice(0, 10) : incr >= 0.01 ? t.slice(0, 11) : t;
  }
  function xText(c, x) {
    if (x == null) return "-";
    if (c.x === "log2ns") return "≥ " + ns(Math.pow(2, x / 2));
    if (c.x === "offset") return "+" + x.toFixed(3) + " s";
    var d = new Date(x * 1000);
    return d.toISOString().replace("T", " ").replace("Z", " UTC");
  }

  // Vertical dashed lines at OOM kills and allocation failures.
  function marksPlugin(c) {
    return {
      hooks: {
        draw: [function (u) {
          if (!c.marks.length) return;
          var ctx = u.ctx, b = u.bbox;
          ctx.save();
          ctx.lineWidth = 1.5 * dpr;
          ctx.setLineDash([5 * dpr, 3 * dpr]);
          ctx.font = (11 * dpr) + "px sans-serif";
          c.marks.forEach(function (m, i) {
            var x = Math.round(u.valToPos(m.x, "x", true));
            if (x < b.left || x > b.left + b.width) return;
            ctx.strokeStyle = MARK[m.kind] || "#b00020";
            ctx.beginPath();
            ctx.moveTo(x, b.top);
            ctx.lineTo(x, b.top + b.height);
            ctx.stroke();
            if (c.marks.length <= 6) {
              ctx.fillStyle = ctx.strokeStyle;
              var label = m.kind === "oom" ? "OOM" : "fail";
              ctx.fillText(label, x + 3 * dpr, b.top + (12 + 12 * (i % 3)) * dpr);
            }
          });
          ctx.restore();
        }],
      },
    };
  }

  function markList(fig, c) {
    if (!c.marks.length) return;
    var ul = document.createElement("ul");
    ul.className = "marks";
    c.marks.slice(0, 8).forEach(function (m) {
      var li = document.createElement("li");
      li.className = m.kind;
      li.textContent = xText(c, m.x) + ": " + m.label;
      ul.appendChild(li);
    });
    if (c.marks.length > 8) {
      var li = document.createElement("li");
      li.textContent = "and " + (c.marks.length - 8) + " more";
      ul.appendChild(li);
    }
    fig.appendChild(ul);
  }

  function draw(c) {
    var fig = document.getElementById("chart-" + c.id);
    if (!fig) return;
    var el = fig.querySelector(".plot");
    var hist = c.kind === "hist";
    var series = [{
      label: c.x === "log2ns" ? "duration" : "time",
      value: function (u, x) { return xText(c, x); },
    }];
    c.series.forEach(function (s, i) {
      var color = (c.y_unit === "pages" && WATERMARK[s.label]) || PALETTE[i % PALETTE.length];
      var unit = s.axis ? c.y2_unit : c.y_unit;
      var o = {
        label: s.label,
        scale: s.axis ? "y2" : "y",
        stroke: color,
        width: 1.5,
        spanGaps: c.kind === "line",
        points: { show: false },
        value: function (u, v) { return value(unit, v); },
      };
      if (s.dash) o.dash = [6, 4];
      // A ratio exists only where there was something to divide: often
      // lone buckets, which a line alone would not show.
      if (unit === "ratio") o.points = { show: true, size: 5, fill: color };
      if (c.kind === "step") o.paths = uPlot.paths.stepped({ align: 1 });
      if (hist) {
        o.paths = c.series.length === 1 ? uPlot.paths.bars({ size: [0.85, 80] }) : uPlot.paths.stepped({ align: 1 });
        o.fill = color + (c.series.length === 1 ? "cc" : "33");
      }
      series.push(o);
    });
    var axes = [
      {
        values: function (u, xs, ai, space, incr) { return xs.map(function (x) {
          if (c.x === "wall") return clock(x, incr);
          return c.x === "log2ns" ? ns(Math.pow(2, x / 2)) : "+" + si(x) + "s";
        }); },
        space: c.x === "wall" ? 90 : 60,
        label: c.x === "wall" ? "UTC, " + new Date(c.xs[0] * 1000).toISOString().slice(0, 10)
          : c.x === "offset" ? "from the recording's start" : "duration",
      },
      { scale: "y", size: 72, values: function (u, vs) { return vs.map(function (v) {
        // Counts are whole: no tick between two of them.
        return c.y_unit === "count" && v % 1 !== 0 ? "" : value(c.y_unit, v);
      }); } },
    ];
    var scales = {
      x: { time: c.x === "wall" },
      y: { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.05 : 1]; } },
    };
    if (c.y2_unit) {
      axes.push({ scale: "y2", side: 1, size: 60, grid: { show: false },
        values: function (u, vs) { return vs.map(function (v) {
          return c.y2_unit === "ratio" ? Math.round(v * 100) + "%" : value(c.y2_unit, v);
        }); } });
      scales.y2 = { range: c.y2_unit === "ratio" ? [0, 1.05] : function (u, lo, hi) { return [0, hi > 0 ? hi * 1.05 : 1]; } };
    }
    var data = [c.xs].concat(c.series.map(function (s) { return s.values; }));
    var points = 0;
    data.slice(1).forEach(function (a) { a.forEach(function (v) { if (v != null) points++; }); });
    var opts = {
      width: Math.max(320, el.clientWidth || 640),
      height: 260,
      series: series,
      axes: axes,
      scales: scales,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      plugins: [marksPlugin(c)],
      hooks: {
        draw: [function () { fig.setAttribute("data-drawn", String(points)); }],
      },
    };
    if (c.x === "wall") opts.tzDate = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); };
    var u = new uPlot(opts, data, el);
    markList(fig, c);
    return { u: u, el: el };
  }

  var drawn = [];
  charts.forEach(function (c) {
    try {
      var d = draw(c);
      if (d) drawn.push(d);
    } catch (e) {
      console.error("chart " + c.id + ": " + (e && e.stack ? e.stack : e));
    }
  });
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      drawn.forEach(function (d) { d.u.setSize({ width: Math.max(320, d.el.clientWidth), height: 260 }); });
    }, 100);
  });
})();
