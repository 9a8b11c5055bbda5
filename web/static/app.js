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
