/* Gebiedscheck Assen — kaartviewer: klik (of Enter) om een plek op te vragen; de kaartstand staat in de URL.
 *
 * Het antwoord staat in een eigen paneel, niet in een Leaflet-popup: links op een breed scherm, als blad onderaan
 * op een telefoon. Het paneel past altijd op het scherm (het schuift zelf), de aangeklikte plek blijft zichtbaar
 * (de kaart schuift zo nodig opzij) en de focus gaat naar het antwoord; Escape sluit het. */
(function () {
  "use strict";
  var g = window.gebiedscheck;
  if (!g || !g.map) { return; }
  var map = g.map;
  var api = g.api || "";
  var container = map.getContainer();
  var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }  // text, never HTML
    if (cls) { e.className = cls; }
    return e;
  }
  // Dutch notation: 3.596 m, 2,4 °C, 56,6 %.
  function nl(x, digits, grouping) {
    return new Intl.NumberFormat("nl-NL", {
      minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: grouping !== false
    }).format(Number(x));
  }
  function metres(x) { return nl(x, 0) + " m"; }

  // RD New (EPSG:28992) <-> WGS84, the polynomial approximation of Schreutelkamp & Strang van Hees (better than
  // 1 m inside the Netherlands; the server answers in exact RD). For typed RD coordinates and the measure tool.
  var RD0 = { x: 155000, y: 463000, lat: 52.15517440, lon: 5.38720621 };
  var TO_LAT = [[0, 1, 3235.65389], [2, 0, -32.58297], [0, 2, -0.2475], [2, 1, -0.84978], [0, 3, -0.0665],
    [2, 2, -0.01709], [1, 0, -0.00738], [4, 0, 0.0053], [2, 3, -3.9e-4], [4, 1, 3.3e-4], [1, 1, -1.2e-4]];
  var TO_LON = [[1, 0, 5260.52916], [1, 1, 105.94684], [1, 2, 2.45656], [3, 0, -0.81885], [1, 3, 0.05594],
    [3, 1, -0.05607], [0, 1, 0.01199], [3, 2, -0.00256], [1, 4, 0.00128], [0, 2, 2.2e-4], [2, 0, -2.2e-4],
    [5, 0, 2.6e-4]];
  var TO_X = [[0, 1, 190094.945], [1, 1, -11832.228], [2, 1, -114.221], [0, 3, -32.391], [1, 0, -0.705],
    [3, 1, -2.340], [1, 3, -0.608], [0, 2, -0.008], [2, 3, 0.148]];
  var TO_Y = [[1, 0, 309056.544], [0, 2, 3638.893], [2, 0, 73.077], [1, 2, -157.984], [3, 0, 59.788],
    [0, 1, 0.433], [2, 2, -6.439], [1, 1, -0.032], [0, 4, 0.092], [1, 4, -0.054]];
  function poly(terms, a, b) {
    return terms.reduce(function (sum, t) { return sum + t[2] * Math.pow(a, t[0]) * Math.pow(b, t[1]); }, 0);
  }
  var rd = {
    // Where the approximation holds: the RD domain, a little wider than the Netherlands.
    inDomain: function (lat, lon) { return lat >= 50.6 && lat <= 53.8 && lon >= 3.0 && lon <= 7.6; },
    isRD: function (x, y) { return x >= -7000 && x <= 300000 && y >= 289000 && y <= 629000; },
    toLatLng: function (x, y) {
      var dx = (x - RD0.x) * 1e-5, dy = (y - RD0.y) * 1e-5;
      return L.latLng(RD0.lat + poly(TO_LAT, dx, dy) / 3600, RD0.lon + poly(TO_LON, dx, dy) / 3600);
    },
    fromLatLng: function (latlng) {
      var dp = 0.36 * (latlng.lat - RD0.lat), dl = 0.36 * (latlng.lng - RD0.lon);
      return { x: RD0.x + poly(TO_X, dp, dl), y: RD0.y + poly(TO_Y, dp, dl) };
    }
  };
  function getJSON(path, lat, lon) {
    var url = api + path + "?lat=" + lat.toFixed(6) + "&lon=" + lon.toFixed(6);
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body && body.detail ? body.detail : r.statusText); }
        return body;
      });
    });
  }

  // --- Leaflet's controls: the zoom buttons top right (the answer panel takes the left side) ---
  if (map.zoomControl) { map.zoomControl.setPosition("topright"); }
  container.setAttribute("role", "region");
  container.setAttribute("aria-label", "Kaart van Assen");
  container.setAttribute("aria-describedby", "gc-kaart-uitleg");
  container.setAttribute("aria-keyshortcuts", "Enter Escape");
  var crosshair = el("div", null, "gc-richtkruis");  // focus ring and crosshair, shown by CSS on :focus-visible
  crosshair.setAttribute("aria-hidden", "true");
  container.appendChild(crosshair);

  // --- the answer panel ---
  var panel = null, marker = null, asked = 0;

  function closeAnswer(refocus) {
    asked += 1;  // a late answer to a closed question is dropped
    if (marker) { map.removeLayer(marker); marker = null; }
    if (!panel) { return; }
    var had = panel.contains(document.activeElement);
    panel.parentNode.removeChild(panel);
    panel = null;
    if (refocus || had) { container.focus({ preventScroll: true }); }
  }

  function keepInView(latlng) {
    // The clicked point stays visible: past the side panel, or above the bottom sheet.
    if (!panel) { return; }
    var p = map.latLngToContainerPoint(latlng), size = map.getSize();
    var box = panel.getBoundingClientRect(), frame = container.getBoundingClientRect();
    var top = box.top - frame.top, right = box.right - frame.left;
    if (box.width >= size.x - 2) {
      if (p.y > top - 24) { map.panBy([0, p.y - top / 2], { animate: !reduceMotion }); }
    } else if (p.x < right + 24) {
      map.panBy([p.x - (right + size.x) / 2, 0], { animate: !reduceMotion });
    }
  }

  function openPanel() {
    panel = el("div", null, "gc-popup gc-antwoord");
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "Antwoord voor deze plek");
    panel.tabIndex = -1;
    var bar = el("div", null, "gc-antwoord-balk");
    var status = el("p", "Bezig met opvragen…", "gc-bezig");
    status.setAttribute("role", "status");
    bar.appendChild(status);
    var close = el("button", "Sluiten", "gc-sluit");
    close.type = "button";
    close.title = "Antwoord sluiten (Escape)";
    close.addEventListener("click", function () { closeAnswer(true); });
    bar.appendChild(close);
    panel.appendChild(bar);
    var body = el("div", null, "gc-antwoord-inhoud");
    panel.appendChild(body);
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closeAnswer(true); }
    });
    L.DomEvent.disableClickPropagation(panel);
    L.DomEvent.disableScrollPropagation(panel);
    container.appendChild(panel);
    panel.focus({ preventScroll: true });
    return { bar: bar, status: status, body: body };
  }

  function heading(parts, text) {
    var h = el("h2", text);
    h.id = "gc-antwoord-kop";
    h.tabIndex = -1;
    parts.bar.replaceChild(h, parts.status);
    panel.removeAttribute("aria-label");
    panel.setAttribute("aria-labelledby", h.id);
    if (panel.contains(document.activeElement)) { h.focus({ preventScroll: true }); }
  }

  // "Toeristisch Recreatieve Zone (TRZ)" inside parentheses reads "Toeristisch Recreatieve Zone, TRZ".
  function flat(title) { return String(title).replace(/\s*\(([^()]*)\)/g, ", $1"); }
  function label(z) {
    if (!z.layer_title || z.layer_title === z.name) { return z.name; }
    if (String(z.layer_title).indexOf(z.name) === 0) { return z.layer_title; }  // "Zuidoost Assen (gebiedsagenda)"
    return z.name + " (" + flat(z.layer_title) + ")";
  }

  function zoneList(zones) {
    var ul = el("ul", null, "gc-zones");
    zones.forEach(function (z) {
      var li = el("li");
      li.appendChild(el("strong", z.name));
      var layer = z.layer_title && z.layer_title !== z.name ? flat(z.layer_title) + ", " : "";
      li.appendChild(el("span", " (" + layer + (z.source && z.source.label ? z.source.label : "indicatief") + ")"));
      if (z.policy && z.policy.summary) {
        li.appendChild(el("p", (z.policy.section ? z.policy.section + ": " : "") + z.policy.summary, "gc-beleid"));
      }
      ul.appendChild(li);
    });
    return ul;
  }

  function nearbyLine(answer) {
    // "Binnen 500 m: Toeristisch Recreatieve Zone, 416 m" (zones within the nearby distance, not the ones here).
    var here = {};
    answer.zones.forEach(function (z) { here[z.layer + "/" + z.feature_id] = true; });
    var near = (answer.nearby || []).filter(function (z) {
      return !(z.distance_m === 0 && here[z.layer + "/" + z.feature_id]);
    });
    if (near.length === 0) { return null; }
    var within = [answer.nearby_distance_m, answer.nearby_m, g.nearbyM].filter(function (x) {
      return typeof x === "number" && isFinite(x);
    })[0];
    var p = el("p", null, "gc-nabij");
    p.appendChild(el("strong", within !== undefined ? "Binnen " + metres(within) + ":" : "In de buurt:"));
    p.appendChild(document.createTextNode(" " + near.map(function (z) {
      return label(z) + ", " + metres(z.distance_m);
    }).join("; ")));
    return p;
  }

  function query(latlng) {
    closeAnswer(false);
    var mine = asked;
    var parts = openPanel();
    marker = L.circleMarker(latlng, {
      radius: 9, color: "#000", weight: 3, fillColor: "#fff", fillOpacity: 0.7, interactive: false
    }).addTo(map);
    var lat = latlng.lat, lon = latlng.lng;
    Promise.all([getJSON("/zones/at", lat, lon), getJSON("/natura2000/distance", lat, lon), getJSON("/heat/at", lat, lon)])
      .then(function (answers) {
        if (mine !== asked || !panel) { return; }
        var zones = answers[0], n2k = answers[1], heat = answers[2], body = parts.body;
        body.appendChild(el("p", nl(lat, 5) + "° N, " + nl(lon, 5) + "° O · RD x " +
          nl(zones.location.rd.x, 0, false) + ", y " + nl(zones.location.rd.y, 0, false), "gc-where"));
        if (zones.in_municipality === false) { body.appendChild(el("p", "Buiten de gemeente Assen.", "gc-let-op")); }
        body.appendChild(el("h3", "Gebieden uit de Omgevingsvisie"));
        body.appendChild(zones.zones.length === 0 ? el("p", "Geen gebied op deze plek.") : zoneList(zones.zones));
        var near = nearbyLine(zones);
        if (near) { body.appendChild(near); }
        body.appendChild(el("h3", "Natura 2000"));
        var site = n2k.nearest.site_number ? " (gebied " + n2k.nearest.site_number + ")" : "";
        body.appendChild(el("p", n2k.inside
          ? "Ligt in " + n2k.nearest.name + site + " — afstand 0 m."
          : n2k.nearest.name + site + ": " + metres(n2k.distance_m) + " (" + n2k.band.label + ")."));
        body.appendChild(el("h3", "Hitte-eiland"));
        if (heat.value_c === null || heat.value_c === undefined) {
          body.appendChild(el("p", "Geen gegevens op deze plek."));
        } else {
          body.appendChild(el("p", nl(heat.value_c, 1) + " °C warmer dan het platteland (zomergemiddelde)."));
          if (heat.above_threshold && typeof heat.threshold_c === "number") {
            body.appendChild(el("p", "Boven de drempel van " + nl(heat.threshold_c, 1) + " °C: een hitte-eiland.",
              "gc-let-op"));
          }
        }
        var foot = el("p", "Indicatief; geen AERIUS-berekening en geen officiële begrenzing. ", "gc-klein");
        var more = el("a", "Over deze kaart");
        more.href = api + "/over";
        foot.appendChild(more);
        body.appendChild(foot);
        heading(parts, "Deze plek");
        keepInView(latlng);
      })
      .catch(function (err) {
        if (mine !== asked || !panel) { return; }
        parts.body.appendChild(el("p", "Deze plek kon niet worden opgevraagd: " + err.message, "gc-let-op"));
        heading(parts, "Niet gelukt");
      });
    keepInView(latlng);
  }

  // A tool (the measure tool, viewer-meten.js) may take the map's clicks and keys while it is on: g.tool.
  map.on("click", function (e) {
    if (g.tool && g.tool.click(e)) { return; }
    query(e.latlng);
  });
  container.addEventListener("keydown", function (e) {
    if (e.target !== container) { return; }
    if (g.tool && g.tool.key(e)) { e.preventDefault(); return; }
    if (e.key === "Enter") { e.preventDefault(); query(map.getCenter()); }
    if (e.key === "Escape" && panel) { closeAnswer(true); }
  });

  // --- the layer control: its state for screen readers, Escape folds it ---
  container.querySelectorAll(".leaflet-control-layers").forEach(function (ctl) {
    var toggle = ctl.querySelector(".leaflet-control-layers-toggle");
    if (!toggle) { return; }
    var sync = function () {
      toggle.setAttribute("aria-expanded", String(ctl.classList.contains("leaflet-control-layers-expanded")));
    };
    sync();
    new MutationObserver(sync).observe(ctl, { attributes: true, attributeFilter: ["class"] });
    ctl.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { ctl.classList.remove("leaflet-control-layers-expanded"); toggle.focus(); }
    });
  });

  // --- the map state lives in the URL: ?lat=..&lon=..&zoom=..&layers=a,b ---
  var params = new URLSearchParams(window.location.search);
  var lat = parseFloat(params.get("lat")), lon = parseFloat(params.get("lon")), zoom = parseInt(params.get("zoom"), 10);
  if (isFinite(lat) && isFinite(lon)) { map.setView([lat, lon], isFinite(zoom) ? zoom : map.getZoom(), { animate: false }); }
  else if (isFinite(zoom)) { map.setZoom(zoom, { animate: false }); }
  if (params.has("layers")) {
    var wanted = params.get("layers").split(",");
    Object.keys(g.groups).forEach(function (slug) {
      var grp = g.groups[slug];
      if (wanted.indexOf(slug) < 0 && map.hasLayer(grp)) { map.removeLayer(grp); }
      if (wanted.indexOf(slug) >= 0 && !map.hasLayer(grp)) { map.addLayer(grp); }
    });
  }
  function saveState() {
    var c = map.getCenter();
    var shown = Object.keys(g.groups).filter(function (slug) { return map.hasLayer(g.groups[slug]); });
    var q = new URLSearchParams(window.location.search);
    q.set("lat", c.lat.toFixed(5)); q.set("lon", c.lng.toFixed(5)); q.set("zoom", String(map.getZoom()));
    q.set("layers", shown.join(","));
    window.history.replaceState(null, "", window.location.pathname + "?" + q.toString());
  }
  map.on("moveend overlayadd overlayremove", saveState);
  g.query = query;
  g.closeAnswer = closeAnswer;
  g.el = el;
  g.nl = nl;
  g.rd = rd;
  g.reduceMotion = reduceMotion;
  // viewer-zoeken.js and viewer-meten.js follow (in that order); the last of them sets g.ready.
})();
