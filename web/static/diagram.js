// Pan and zoom for process diagrams (.diagram > svg): buttons, Ctrl/⌘ + wheel, drag to move.
// The server draws the SVG; this only changes its viewBox, so text stays sharp at any zoom.
(function () {
  "use strict";
  function setup(box) {
    var svg = box.querySelector("svg");
    if (!svg || box.dataset.zoom) return;
    box.dataset.zoom = "on";
    var base = (svg.getAttribute("viewBox") || "").split(/[\s,]+/).map(Number);
    if (base.length !== 4 || base.some(isNaN)) {
      var bb = svg.getBBox();
      base = [bb.x, bb.y, bb.width, bb.height];
    }
    var view = base.slice();
    function apply() { svg.setAttribute("viewBox", view.join(" ")); box.dataset.scale = (base[2] / view[2]).toFixed(2); }
    function zoom(factor, cx, cy) {
      var w = view[2] / factor, h = view[3] / factor;
      if (w > base[2] * 4 || w < base[2] / 8) return;
      cx = cx === undefined ? view[0] + view[2] / 2 : cx;
      cy = cy === undefined ? view[1] + view[3] / 2 : cy;
      view = [cx - (cx - view[0]) / factor, cy - (cy - view[1]) / factor, w, h];
      apply();
    }
    function point(evt) {
      var r = svg.getBoundingClientRect();
      return [view[0] + (evt.clientX - r.left) / r.width * view[2], view[1] + (evt.clientY - r.top) / r.height * view[3]];
    }
    var bar = document.createElement("div");
    bar.className = "zoombar";
    [["+", "zoom-in", function () { zoom(1.25); }], ["−", "zoom-out", function () { zoom(0.8); }],
     ["⤢", "zoom-reset", function () { view = base.slice(); apply(); }]]
      .forEach(function (b) {
        var btn = document.createElement("button");
        btn.type = "button"; btn.textContent = b[0]; btn.className = b[1];
        btn.addEventListener("click", b[2]);
        bar.appendChild(btn);
      });
    box.insertBefore(bar, box.firstChild);
    box.addEventListener("wheel", function (evt) {
      if (!evt.ctrlKey && !evt.metaKey) return;
      evt.preventDefault();
      var p = point(evt);
      zoom(evt.deltaY < 0 ? 1.15 : 1 / 1.15, p[0], p[1]);
    }, { passive: false });
    var drag = null;
    svg.addEventListener("pointerdown", function (evt) {
      if (evt.target.closest("a")) return;
      drag = { x: evt.clientX, y: evt.clientY, view: view.slice() };
      svg.setPointerCapture(evt.pointerId);
      box.classList.add("dragging");
    });
    svg.addEventListener("pointermove", function (evt) {
      if (!drag) return;
      var r = svg.getBoundingClientRect();
      view[0] = drag.view[0] - (evt.clientX - drag.x) / r.width * view[2];
      view[1] = drag.view[1] - (evt.clientY - drag.y) / r.height * view[3];
      apply();
    });
    function stop() { drag = null; box.classList.remove("dragging"); }
    svg.addEventListener("pointerup", stop);
    svg.addEventListener("pointercancel", stop);
  }
  function init() { Array.prototype.forEach.call(document.querySelectorAll(".diagram"), setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
