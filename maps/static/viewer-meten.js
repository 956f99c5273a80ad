/* Gebiedscheck Assen — kaartviewer: meten (afstand en oppervlakte).
 *
 * De knop "Meten" (rechtsboven, onder de zoomknoppen) zet het meten aan en uit; Escape zet het ook uit. Zolang het
 * aan staat zet een klik op de kaart een punt (met het toetsenbord: Enter zet een punt in het midden van de kaart,
 * bij het kruisje; Backspace haalt het laatste punt weg). Een klik op het eerste punt, of de knop "Vorm sluiten",
 * maakt er een vlak van: dan komt ook de oppervlakte erbij.
 *
 * Berekend in RD (EPSG:28992, de Rijksdriehoeksmeting: vlakke meters, zoals de kaarten van de gemeente), de punten
 * omgerekend met de benadering van viewer.js; buiten het RD-gebied langs de bol (geodetisch, Leaflets straal). */
(function () {
  "use strict";
  var g = window.gebiedscheck;
  if (!g || !g.map) { return; }
  var map = g.map, el = g.el, nl = g.nl, rd = g.rd, container = map.getContainer();
  var R = 6378137, CLOSE_PX = 12;
  var on = false, points = [], closed = false, drawn = null, panel = null, result = null, shut = null, undo = null;
  var button = null, zoomedByDblclick = false;

  function inRD(pts) { return pts.every(function (p) { return rd.inDomain(p.lat, p.lng); }); }
  function lengthM(pts, ring) {
    var all = ring && pts.length > 2 ? pts.concat([pts[0]]) : pts, sum = 0, useRD = inRD(pts), i, a, b;
    for (i = 1; i < all.length; i += 1) {
      if (useRD) {
        a = rd.fromLatLng(all[i - 1]); b = rd.fromLatLng(all[i]);
        sum += Math.sqrt((b.x - a.x) * (b.x - a.x) + (b.y - a.y) * (b.y - a.y));
      } else {
        sum += map.distance(all[i - 1], all[i]);
      }
    }
    return sum;
  }
  function areaM2(pts) {
    var sum = 0, i, j, a, b, rad = Math.PI / 180;
    if (pts.length < 3) { return 0; }
    if (inRD(pts)) {  // the shoelace formula on RD metres
      var xy = pts.map(function (p) { return rd.fromLatLng(p); });
      for (i = 0; i < xy.length; i += 1) {
        j = (i + 1) % xy.length;
        sum += xy[i].x * xy[j].y - xy[j].x * xy[i].y;
      }
      return Math.abs(sum) / 2;
    }
    for (i = 0; i < pts.length; i += 1) {  // on the sphere (the area of a spherical polygon)
      a = pts[i]; b = pts[(i + 1) % pts.length];
      sum += (b.lng - a.lng) * rad * (2 + Math.sin(a.lat * rad) + Math.sin(b.lat * rad));
    }
    return Math.abs(sum * R * R / 2);
  }
  // 1.234 m; above 10 km: 12,3 km. 12.345 m²; from 1 ha: 2,3 ha (23.456 m²).
  function fmtLength(m) { return m >= 10000 ? nl(m / 1000, 1) + " km" : nl(m, 0) + " m"; }
  function fmtArea(a) { return a >= 10000 ? nl(a / 10000, 1) + " ha (" + nl(a, 0) + " m²)" : nl(a, 0) + " m²"; }

  function redraw() {
    if (!drawn) { drawn = L.layerGroup().addTo(map); }
    drawn.clearLayers();
    var style = { color: "#0b3d91", weight: 3, interactive: false };
    if (points.length >= 2) {
      (closed ? L.polygon(points, Object.assign({ fillColor: "#0b3d91", fillOpacity: 0.15 }, style))
        : L.polyline(points, Object.assign({ dashArray: "8 6" }, style))).addTo(drawn);
    }
    points.forEach(function (p, i) {
      L.circleMarker(p, { radius: i === 0 ? 7 : 5, color: "#0b3d91", weight: 2, fillColor: "#fff", fillOpacity: 1,
        interactive: false, className: "gc-meetpunt" }).addTo(drawn);
    });
    var lines = [];
    if (points.length === 0) {
      lines.push("Nog geen punten. Klik op de kaart om te beginnen.");
    } else if (points.length === 1) {
      lines.push("Eén punt gezet; klik een tweede punt.");
    } else if (closed) {
      lines.push("Omtrek: " + fmtLength(lengthM(points, true)));
      lines.push("Oppervlakte: " + fmtArea(areaM2(points)));
    } else {
      lines.push("Lengte: " + fmtLength(lengthM(points, false)));
    }
    result.textContent = "";
    lines.forEach(function (line) { result.appendChild(el("span", line, "gc-meetregel")); });
    result.dataset.punten = String(points.length);
    shut.disabled = closed || points.length < 3;
    undo.disabled = points.length === 0;
  }

  function add(latlng) {
    if (closed) { points = []; closed = false; }  // a click after a closed shape starts a new one
    if (points.length >= 3) {
      var first = map.latLngToContainerPoint(points[0]), here = map.latLngToContainerPoint(latlng);
      if (first.distanceTo(here) <= CLOSE_PX) { closed = true; redraw(); return; }
    }
    points.push(latlng);
    redraw();
  }
  function removeLast() {
    if (closed) { closed = false; } else { points.pop(); }
    redraw();
  }

  function button_(text, onClick) {
    var b = el("button", text, "gc-meetactie");
    b.type = "button";
    b.addEventListener("click", function (e) { e.preventDefault(); onClick(); });
    return b;
  }
  function start() {
    if (on) { return; }
    if (g.closeAnswer) { g.closeAnswer(false); }
    on = true; points = []; closed = false;
    zoomedByDblclick = map.doubleClickZoom.enabled();
    map.doubleClickZoom.disable();  // quick clicks set points, they do not zoom
    button.setAttribute("aria-pressed", "true");
    container.classList.add("gc-meten");
    panel = el("div", null, "gc-meetpaneel");
    panel.setAttribute("role", "region");
    panel.setAttribute("aria-labelledby", "gc-meetkop");
    var h = el("h2", "Meten");
    h.id = "gc-meetkop";
    panel.appendChild(h);
    panel.appendChild(el("p", "Klik punten op de kaart; klik op het eerste punt of kies Vorm sluiten voor de " +
      "oppervlakte. Toetsenbord: op de kaart zet Enter een punt bij het kruisje, Backspace haalt het weg.", "gc-klein"));
    result = el("p", null, "gc-meetuitkomst");
    result.id = "gc-meetuitkomst";
    result.setAttribute("role", "status");
    result.setAttribute("aria-atomic", "true");
    panel.appendChild(result);
    panel.appendChild(el("p", "Berekend in RD (EPSG:28992); indicatief.", "gc-klein"));
    var row = el("div", null, "gc-meetknoppen");
    shut = button_("Vorm sluiten", function () { if (points.length >= 3) { closed = true; redraw(); } });
    undo = button_("Punt terug", removeLast);
    row.appendChild(shut);
    row.appendChild(undo);
    row.appendChild(button_("Opnieuw", function () { points = []; closed = false; redraw(); }));
    row.appendChild(button_("Klaar", function () { stop(true); }));
    panel.appendChild(row);
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); stop(true); }
    });
    L.DomEvent.disableClickPropagation(panel);
    L.DomEvent.disableScrollPropagation(panel);
    container.appendChild(panel);
    redraw();
    container.focus({ preventScroll: true });  // Enter now sets a point at the crosshair
  }
  function stop(refocus) {
    if (!on) { return; }
    on = false;
    if (zoomedByDblclick) { map.doubleClickZoom.enable(); }
    if (drawn) { map.removeLayer(drawn); drawn = null; }
    var had = panel && panel.contains(document.activeElement);
    if (panel) { panel.parentNode.removeChild(panel); panel = null; }
    button.setAttribute("aria-pressed", "false");
    container.classList.remove("gc-meten");
    points = []; closed = false;
    if (refocus || had) { button.focus({ preventScroll: true }); }
  }

  // --- the button, a Leaflet control below the zoom buttons ---
  var Control = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      var div = L.DomUtil.create("div", "leaflet-bar leaflet-control gc-meetbalk");
      button = L.DomUtil.create("button", "gc-meetknop", div);
      button.type = "button";
      button.textContent = "Meten";
      button.title = "Afstand en oppervlakte meten (Escape stopt)";
      button.setAttribute("aria-pressed", "false");
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.on(button, "click", function (e) { L.DomEvent.preventDefault(e); if (on) { stop(false); } else { start(); } });
      return div;
    }
  });
  new Control().addTo(map);
  // Escape ends the tool wherever the focus is (a clicked shape on the map takes it), but in the search box.
  document.addEventListener("keydown", function (e) {
    if (!on || e.key !== "Escape" || e.defaultPrevented) { return; }
    if (e.target && e.target.closest && e.target.closest(".gc-zoek")) { return; }
    e.preventDefault();
    stop(false);
  });

  // While on, the map's clicks and keys are ours (viewer.js asks g.tool first).
  g.tool = {
    click: function (e) {
      if (!on) { return false; }
      add(e.latlng);
      // The keys stay with the map (Enter, Backspace, Escape), not with a clicked shape that took the focus.
      container.focus({ preventScroll: true });
      return true;
    },
    key: function (e) {
      if (!on) { return false; }
      if (e.key === "Enter") { add(map.getCenter()); return true; }
      if (e.key === "Backspace" || e.key === "Delete") { removeLast(); return true; }
      if (e.key === "Escape") { stop(false); return true; }
      return false;
    }
  };
  g.measure = {
    start: start,
    stop: stop,
    points: function () { return points.map(function (p) { return [p.lat, p.lng]; }); },
    closed: function () { return closed; }
  };
  g.ready = true;
})();
