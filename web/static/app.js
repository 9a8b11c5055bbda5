// Pulse's pages work without this file. With it: forms marked autosubmit follow their inputs
// (the trending time slider), and the network's nodes can be dragged and the view zoomed.
"use strict";
(function () {
  document.querySelectorAll("form.autosubmit").forEach(function (form) {
    form.querySelectorAll("input[type=range], select").forEach(function (el) {
      var labels = el.dataset.labels ? JSON.parse(el.dataset.labels) : null;
      var out = form.querySelector("output");
      el.addEventListener("input", function () {
        if (labels && out) { out.textContent = labels[el.value]; }
      });
      el.addEventListener("change", function () { form.submit(); });
    });
  });

  // The live top of the Trending page, redrawn from the server's event stream.
  var live = document.getElementById("live");
  if (live && window.EventSource) {
    var status = document.getElementById("live-status");
    var chart = document.getElementById("live-chart");
    var caption = chart.parentNode.querySelector("figcaption");
    var last = 0;
    var ns = "http://www.w3.org/2000/svg";
    var el = function (name, attrs, text) {
      var e = document.createElementNS(ns, name);
      Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
      if (text !== undefined) { e.textContent = text; }
      return e;
    };
    var draw = function (w) {
      var top = w.top || [];
      var row = 24, labelW = 170, valueW = 90, width = 640;
      var max = top.reduce(function (m, e) { return Math.max(m, e[1]); }, 0);
      var scale = max > 0 ? (width - labelW - valueW) / max : 0;
      chart.setAttribute("viewBox", "0 0 " + width + " " + (row * top.length + 8));
      while (chart.firstChild) { chart.removeChild(chart.firstChild); }
      top.forEach(function (e, i) {
        var y = 4 + row * i, len = Math.max(e[1] * scale, 1);
        var g = el("g", { "class": "bar", "data-label": e[0], "data-value": e[1] });
        g.appendChild(el("title", {}, e[0] + ": " + e[1] + " messages"));
        g.appendChild(el("text", { x: labelW - 6, y: y + 16, "text-anchor": "end" }, e[0]));
        g.appendChild(el("rect", { x: labelW, y: y + 3, width: len.toFixed(1), height: row - 6, fill: "#0072B2" }));
        g.appendChild(el("text", { "class": "value", x: labelW + len + 4, y: y + 16 }, String(e[1])));
        chart.appendChild(g);
      });
      caption.textContent = "Live: top hashtags, " + w.window_start + " to " + w.window_end + (w.final ? " (final)" : "");
    };
    // A line per tag of the newest top over the windows held, as the server draws it.
    var lines = document.getElementById("live-lines");
    var palette = (live.dataset.palette || "#0072B2").split(",");
    var drawLines = function (mine, newest) {
      var tags = (newest.top || []).slice(0, Number(live.dataset.lines) || 5).map(function (e) { return e[0]; });
      var h = 260, left = 56, right = 12, top = 10, bottom = 28, width = 640;
      var xs = mine.map(function (w) { return Date.parse(w.window_start); });
      var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
      var count = function (w, tag) {
        var e = (w.top || []).find(function (e) { return e[0] === tag; });
        return e ? e[1] : 0;
      };
      var y1 = 0;
      mine.forEach(function (w) { tags.forEach(function (t) { y1 = Math.max(y1, count(w, t)); }); });
      y1 = y1 > 0 ? y1 : 1;
      var span = x1 > x0 ? x1 - x0 : 1;
      var px = function (x) { return left + (x - x0) / span * (width - left - right); };
      var py = function (y) { return top + (1 - y / y1) * (h - top - bottom); };
      var clock = function (x) { return new Date(x).toISOString().slice(11, 19); };
      // As the server's svg::num: integers as such, others with up to 2 decimals.
      var num = function (v) { return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(2))); };
      while (lines.firstChild) { lines.removeChild(lines.firstChild); }
      for (var t = 0; t <= 4; t++) {
        var y = y1 * t / 4;
        lines.appendChild(el("line", { "class": "grid", x1: left, x2: width - right, y1: py(y), y2: py(y) }));
        lines.appendChild(el("text", { "class": "axis", x: left - 4, y: py(y) + 4, "text-anchor": "end" }, num(y)));
      }
      lines.appendChild(el("text", { "class": "axis", x: left, y: h - 8 }, clock(x0)));
      lines.appendChild(el("text", { "class": "axis", x: width - right, y: h - 8, "text-anchor": "end" }, clock(x1)));
      tags.forEach(function (tag, i) {
        var colour = palette[i % palette.length];
        var g = el("g", { "class": "series", "data-name": "#" + tag });
        var d = mine.map(function (w, k) { return (k ? "L" : "M") + px(xs[k]).toFixed(1) + "," + py(count(w, tag)).toFixed(1); }).join(" ");
        g.appendChild(el("path", { d: d, fill: "none", stroke: colour, "stroke-width": 2 }));
        mine.forEach(function (w, k) {
          var c = el("circle", { "class": "point", cx: px(xs[k]).toFixed(1), cy: py(count(w, tag)).toFixed(1), r: 3, fill: colour, "data-x": xs[k] * 1000, "data-y": count(w, tag) });
          c.appendChild(el("title", {}, "#" + tag + ", " + clock(xs[k]) + ": " + count(w, tag) + " messages"));
          g.appendChild(c);
        });
        lines.appendChild(g);
      });
      // A legend for two lines or more, as the server draws it.
      var legend = lines.parentNode.querySelector("ul.legend");
      if (tags.length < 2) { if (legend) { legend.remove(); } return; }
      if (!legend) { legend = document.createElement("ul"); legend.className = "legend"; lines.parentNode.appendChild(legend); }
      while (legend.firstChild) { legend.removeChild(legend.firstChild); }
      tags.forEach(function (tag, i) {
        var li = document.createElement("li"), sw = document.createElement("span");
        sw.className = "swatch"; sw.style.background = palette[i % palette.length];
        li.appendChild(sw); li.appendChild(document.createTextNode("#" + tag));
        legend.appendChild(li);
      });
    };
    var source = new EventSource(live.dataset.source);
    source.onmessage = function (ev) {
      var snap = JSON.parse(ev.data);
      last = Date.now();
      status.textContent = "live";
      status.className = "live";
      var shape = live.dataset.shape || (snap.windows[0] && snap.windows[0].live);
      var mine = snap.windows.filter(function (w) { return w.live === shape; });
      if (mine.length) {
        live.dataset.shape = shape;
        mine.sort(function (a, b) { return Date.parse(a.window_start) - Date.parse(b.window_start); });
        draw(mine[mine.length - 1]);
        drawLines(mine, mine[mine.length - 1]);
      }
    };
    setInterval(function () {
      if (last && Date.now() - last > 3000) {
        status.textContent = "stale since " + new Date(last).toLocaleTimeString();
        status.className = "stale";
      }
    }, 1000);
  }

  document.querySelectorAll("svg.network").forEach(function (svg) {
    var links = Array.prototype.slice.call(svg.querySelectorAll("line.link"));
    var dragging = null;
    function point(ev) {
      var p = svg.createSVGPoint();
      p.x = ev.clientX; p.y = ev.clientY;
      return p.matrixTransform(svg.getScreenCTM().inverse());
    }
    function place(node, x, y) {
      node.setAttribute("transform", "translate(" + x.toFixed(1) + "," + y.toFixed(1) + ")");
      var id = node.dataset.id;
      links.forEach(function (l) {
        if (l.dataset.s === id) { l.setAttribute("x1", x.toFixed(1)); l.setAttribute("y1", y.toFixed(1)); }
        if (l.dataset.t === id) { l.setAttribute("x2", x.toFixed(1)); l.setAttribute("y2", y.toFixed(1)); }
      });
    }
    svg.querySelectorAll("g.node").forEach(function (node) {
      node.addEventListener("pointerdown", function (ev) {
        dragging = node;
        ev.preventDefault();
      });
    });
    svg.addEventListener("pointermove", function (ev) {
      if (!dragging) { return; }
      var p = point(ev);
      place(dragging, p.x, p.y);
    });
    window.addEventListener("pointerup", function () { dragging = null; });
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var vb = svg.viewBox.baseVal;
      var p = point(ev);
      var k = ev.deltaY < 0 ? 0.9 : 1.1;
      vb.x = p.x - (p.x - vb.x) * k;
      vb.y = p.y - (p.y - vb.y) * k;
      vb.width *= k;
      vb.height *= k;
    }, { passive: false });
  });
})();
