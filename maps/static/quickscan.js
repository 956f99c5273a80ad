/* The quickscan in the browser (/quickscan): draw a plan (Leaflet-Geoman) or upload a file, ask POST /check or
   POST /check/file, and show the answer in Dutch next to (or below) the map. No inline scripts: the page's
   Content-Security-Policy allows scripts from our own origin only. */
(function () {
  "use strict";

  var NIETS = "\u2013";
  var LINK_MAX = 8000; // characters of GeoJSON a come-back link carries
  var ZONE_COLOURS = ["#1f78b4", "#6a3d9a", "#33a02c", "#b15928", "#e31a1c", "#ff7f00"];

  // --- Dutch numbers: the rules of service/dutch.py -------------------------------------------------------
  function missing(v) { return v === null || v === undefined || typeof v !== "number" || !isFinite(v); }
  function getal(value, digits) {
    if (missing(value)) return NIETS;
    digits = Math.max(0, digits || 0);
    var text = Number(value).toFixed(digits);
    var negative = text.charAt(0) === "-";
    if (negative) text = text.slice(1);
    var parts = text.split(".");
    var out = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ".") + (parts[1] ? "," + parts[1] : "");
    return negative && /[1-9]/.test(text) ? "-" + out : out; // no "-0,0"
  }
  function procent(value, digits) {
    if (missing(value)) return NIETS;
    digits = digits === undefined ? 1 : digits;
    var f = Math.pow(10, digits), rounded = Math.round(value * f) / f;
    return getal(rounded, rounded === Math.trunc(rounded) ? 0 : digits) + " %";
  }
  function meters(value, digits) { return missing(value) ? NIETS : getal(value, digits || 0) + " m"; }
  function oppervlakte(m2) {
    if (missing(m2)) return NIETS;
    if (Math.abs(m2) < 10000) return getal(m2) + " m\u00b2";
    return getal(m2 / 10000, 2) + " ha (" + getal(m2) + " m\u00b2)";
  }
  function graden(value, digits) { return missing(value) ? NIETS : getal(value, digits === undefined ? 2 : digits) + " \u00b0C"; }

  // --- small DOM helpers (text only: names come from files and layers) ------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }
  function $(id) { return document.getElementById(id); }

  var status = $("status");
  function say(text, fout) {
    status.textContent = text;
    status.className = "status" + (fout ? " fout" : "");
  }

  // --- the map ---------------------------------------------------------------------------------------------
  var box = $("kaart");
  var map = L.map(box, { zoomControl: false }).setView([52.9925, 6.5625], 14);
  L.control.zoom({ zoomInTitle: "Inzoomen", zoomOutTitle: "Uitzoomen", position: "topright" }).addTo(map);
  map.attributionControl.setPrefix(
    '<a href="https://leafletjs.com" title="Een JavaScript-bibliotheek voor interactieve kaarten">Leaflet</a>'
  );
  L.tileLayer(box.dataset.tiles, { attribution: box.dataset.attribution, maxZoom: 19 }).addTo(map);
  map.createPane("zones").style.zIndex = 350; // under the plan, which stays editable
  var zones = L.featureGroup().addTo(map);
  var natura = L.featureGroup().addTo(map);

  map.pm.setLang("nl", {
    tooltips: {
      placeMarker: "Klik om het punt te plaatsen",
      finishPoly: "Klik op het eerste punt om het vlak te sluiten",
      firstVertex: "Klik om het eerste hoekpunt te plaatsen",
      continueLine: "Klik om het volgende hoekpunt te plaatsen",
      finishRect: "Klik om de rechthoek af te maken"
    },
    buttonTitles: {
      drawMarkerButton: "Teken een punt",
      drawPolyButton: "Teken een vlak",
      drawRectButton: "Teken een rechthoek",
      editButton: "Bewerk het plan (sleep de hoekpunten)",
      dragButton: "Verplaats het plan",
      deleteButton: "Verwijder het plan"
    }
  }, "nl");
  map.pm.setGlobalOptions({ markerStyle: { alt: "Plan (punt)", title: "Plan (punt)" }, snappable: false });
  map.pm.addControls({
    position: "topleft", drawMarker: true, drawPolygon: true, drawRectangle: true, drawPolyline: false,
    drawCircle: false, drawCircleMarker: false, drawText: false, editMode: true, dragMode: true,
    cutPolygon: false, removalMode: true, rotateMode: false
  });
  // Geoman puts the title on the button's container: give the button itself its name (screen readers, axe).
  function nameButtons() {
    document.querySelectorAll(".leaflet-pm-toolbar .button-container").forEach(function (c) {
      var a = c.querySelector(".leaflet-buttons-control-button");
      if (a && c.title) a.setAttribute("aria-label", c.title);
    });
  }
  nameButtons();

  var plan = null; // the layer of the plan (drawn, uploaded or from a link)
  var planFeature = null; // the plan as last checked, a GeoJSON Feature in WGS84
  var pending = null;

  function setPlan(layer) {
    if (plan && plan !== layer) map.removeLayer(plan);
    plan = layer;
    layer.on("pm:edit pm:dragend", later);
  }
  function later() {
    clearTimeout(pending);
    pending = setTimeout(checkDrawn, 400);
  }
  function clearPlan() {
    if (plan) map.removeLayer(plan);
    plan = null;
    planFeature = null;
    zones.clearLayers();
    natura.clearLayers();
    $("antwoord").hidden = true;
    say("Het plan is gewist.");
  }

  map.on("pm:create", function (e) {
    setPlan(e.layer);
    checkDrawn();
  });
  map.on("pm:remove", function (e) { if (e.layer === plan) clearPlan(); });

  // our own buttons: the same tools, reachable with the keyboard from the panel
  document.querySelectorAll("[data-teken]").forEach(function (b) {
    b.addEventListener("click", function () {
      map.pm.enableDraw(b.getAttribute("data-teken"));
      say("Teken op de kaart" + (b.getAttribute("data-teken") === "Polygon" ? ": klik de hoekpunten en sluit af op het eerste punt." : "."));
    });
  });
  $("bewerk").addEventListener("click", function () {
    if (!plan) { say("Er is nog geen plan om te bewerken.", true); return; }
    var on = !(plan.pm && plan.pm.enabled());
    if (on) plan.pm.enable(); else plan.pm.disable();
    $("bewerk").setAttribute("aria-pressed", on ? "true" : "false");
    say(on ? "Sleep de hoekpunten van het plan; het antwoord wordt daarna opnieuw berekend." : "Bewerken is uit.");
  });
  $("wis").addEventListener("click", clearPlan);
  document.querySelectorAll("[data-midden]").forEach(function (b) {
    b.addEventListener("click", function () {
      var c = map.getCenter();
      var layer;
      if (b.getAttribute("data-midden") === "punt") {
        layer = L.marker(c, { alt: "Plan (punt)", title: "Plan (punt)" });
      } else {
        var dy = 50 / 111320, dx = 50 / (111320 * Math.cos(c.lat * Math.PI / 180));
        layer = L.polygon([[c.lat - dy, c.lng - dx], [c.lat - dy, c.lng + dx], [c.lat + dy, c.lng + dx], [c.lat + dy, c.lng - dx]]);
      }
      layer.addTo(map);
      setPlan(layer);
      checkDrawn();
    });
  });

  // --- asking the service ----------------------------------------------------------------------------------
  function dutchError(status, detail, retry) {
    var d = String(detail || "");
    if (status === 429) return "Te veel verzoeken achter elkaar; probeer het over " + (retry || "enkele") + " seconden opnieuw.";
    if (status === 413) return "Het bestand of plan is te groot (" + d + ").";
    if (/no coordinate reference system/.test(d)) return "Het bestand noemt geen co\u00f6rdinatenstelsel. Kies het hieronder en toets opnieuw.";
    if (/nothing usable as a plan/.test(d)) return "In het bestand staat geen gesloten vorm (vlak of gesloten polylijn) die als plan kan dienen.";
    if (/unknown format/.test(d)) return "Dit soort bestand kan niet: gebruik GeoJSON, GeoPackage, een Shapefile als .zip of DXF.";
    if (/but the content is/.test(d)) return "De inhoud van het bestand past niet bij de extensie van de naam; het bestand is geweigerd.";
    if (/not accepted; give an EPSG code|not a known EPSG/.test(d)) return "Dit co\u00f6rdinatenstelsel wordt niet geaccepteerd; kies een EPSG-code.";
    if (/outside the area/.test(d)) return "Het plan ligt buiten het gebied dat deze dienst kent (Nederland).";
    if (/not valid/.test(d)) return "Het plan is geen geldig vlak (bijvoorbeeld een vlak dat zichzelf snijdt).";
    return "Het plan kon niet worden getoetst.";
  }

  function ask(url, init, fromFile) {
    say("Bezig met toetsen\u2026");
    init.headers = Object.assign({ Accept: "application/json" }, init.headers || {});
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { return { detail: "status " + r.status }; }).then(function (body) {
        if (!r.ok) {
          var text = dutchError(r.status, body.detail, r.headers.get("Retry-After"));
          say(text + " (Melding van de dienst: " + body.detail + ")", true);
          if (fromFile && /no coordinate reference system/.test(String(body.detail))) $("crs").focus();
          return null;
        }
        return body;
      });
    }).catch(function () {
      say("De dienst is niet bereikbaar; probeer het later opnieuw.", true);
      return null;
    });
  }

  function checkDrawn() {
    if (!plan) return;
    var feature = plan.toGeoJSON(7);
    feature.properties = { name: "Getekend plan" };
    ask("/check", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(feature)
    }).then(function (report) { if (report) show(report, feature, null); });
  }

  $("upload").addEventListener("submit", function (e) {
    e.preventDefault();
    upload();
  });
  $("bestand").addEventListener("change", function () { if ($("bestand").files.length) upload(); });

  function upload() {
    var file = $("bestand").files[0];
    if (!file) { say("Kies eerst een bestand.", true); $("bestand").focus(); return; }
    var form = new FormData();
    form.append("file", file, file.name);
    if ($("crs").value) form.append("crs", $("crs").value);
    ask("/check/file", { method: "POST", body: form }, true).then(function (report) {
      if (!report) return;
      var layer = layerOf(report.plan);
      if (!layer) return;
      layer.addTo(map);
      setPlan(layer);
      fit(layer);
      show(report, report.plan, report.plan_file);
    });
  }

  function layerOf(feature) {
    var first = null;
    L.geoJSON(feature, {
      pointToLayer: function (_f, latlng) { return L.marker(latlng, { alt: "Plan (punt)", title: "Plan (punt)" }); }
    }).eachLayer(function (l) { if (!first) first = l; });
    return first;
  }
  function fit(layer) {
    if (layer.getBounds) map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 17 });
    else map.setView(layer.getLatLng(), Math.max(map.getZoom(), 15));
  }

  // --- the answer ------------------------------------------------------------------------------------------
  function show(report, feature, fileInfo) {
    planFeature = { type: "Feature", properties: feature.properties || {}, geometry: feature.geometry };
    var out = $("antwoord-inhoud");
    out.textContent = "";
    var ini = report.initiative;
    var wat = ini.geometry_type === "Point" ? "een punt" : "een vlak van " + oppervlakte(ini.area_m2);
    out.appendChild(el("p", {}, [el("strong", { text: ini.name || "Plan" }), ": " + wat + "."]));
    if (fileInfo) out.appendChild(el("p", { class: "klein", text: fileText(fileInfo) }));
    if (report.in_municipality === true) out.appendChild(el("p", { text: "Het plan ligt binnen de gemeente Assen." }));

    out.appendChild(el("h3", { text: "Gebieden van de Omgevingsvisie" }));
    if (!report.zones.length) {
      out.appendChild(el("p", { text: "Het plan ligt in geen van de gebieden van de Omgevingsvisie." }));
    }
    report.zones.forEach(function (z) {
      var share = z.overlap_m2 === null ? "Het punt ligt in dit gebied."
        : "Deel van het plan in dit gebied: " + procent(z.overlap_pct) + ", " + oppervlakte(z.overlap_m2) + ".";
      var nested = z.nested_in.length ? el("p", { class: "klein", text: "Ligt binnen: " + z.nested_in.map(function (n) { return n.name; }).join(", ") + "." }) : null;
      var policy = z.policy.summary ? el("p", {}, [el("strong", { text: "Wat de Omgevingsvisie vraagt" + (z.policy.section ? " (" + z.policy.section + ")" : "") + ": " }), z.policy.summary]) : null;
      out.appendChild(el("div", { class: "zone" }, [
        el("p", {}, [el("strong", { text: z.name }), z.layer_title === z.name ? null : " ",
          z.layer_title === z.name ? null : el("span", { class: "klein", text: "(" + z.layer_title + ")" })]),
        el("p", { text: share }), nested, policy
      ]));
    });
    if (report.outside_zones_pct !== null && report.outside_zones_pct > 0) {
      out.appendChild(el("p", { text: "Buiten alle gebieden: " + procent(report.outside_zones_pct) + " van het plan, " + oppervlakte(report.outside_zones_m2) + "." }));
    }

    out.appendChild(el("h3", { text: "In de buurt (binnen " + meters(report.nearby_distance_m) + ")" }));
    if (!report.nearby.length) out.appendChild(el("p", { text: "Geen andere gebieden in de buurt." }));
    else out.appendChild(el("ul", {}, report.nearby.map(function (n) {
      var layer = n.layer_title === n.name ? "" : " (" + n.layer_title + ")";
      return el("li", {}, [el("strong", { text: n.name }), layer + ": " + meters(n.distance_m)]);
    })));

    var n2k = report.natura2000;
    out.appendChild(el("h3", { text: "Natura 2000" }));
    out.appendChild(el("p", {
      text: n2k.inside ? "Het plan ligt (deels) in Natura 2000-gebied " + n2k.nearest.name + "."
        : "Afstand tot " + n2k.nearest.name + ": " + meters(n2k.distance_m) + " (" + n2k.band.label + ")."
    }));
    out.appendChild(el("p", { class: "klein", text: n2k.note }));

    out.appendChild(el("h3", { text: "Hitte (stedelijk hitte-eiland)" }));
    out.appendChild(el("p", { text: heatText(report.heat) }));

    if (report.warnings.length) {
      out.appendChild(el("h3", { text: "Let op" }));
      out.appendChild(el("ul", { class: "waarschuwing" }, report.warnings.map(function (w) { return el("li", { text: w.message }); })));
    }
    if (report.repaired) out.appendChild(el("p", { class: "klein", text: "Het vlak was ongeldig en is gerepareerd." }));
    out.appendChild(el("p", { class: "klein", text: report.disclaimer }));

    links();
    drawAnswer(report);
    var section = $("antwoord");
    section.hidden = false;
    say("Het antwoord staat hieronder.");
    section.focus({ preventScroll: true });
    section.scrollIntoView({ block: "start" }); // its top in view, also where it is taller than the screen
    window.quickscan.report = report;
    window.quickscan.answers += 1;
  }

  function fileText(info) {
    var parts = ["Uit " + info.source_name + " (" + info.format + "): "];
    parts.push(info.parts_used === 1 ? "1 deel gebruikt" : info.parts_used + " delen samengevoegd tot \u00e9\u00e9n plan");
    if (info.closed_lines) parts.push(", waarvan " + info.closed_lines + " uit gesloten lijnen");
    if (info.points_ignored) parts.push("; " + info.points_ignored + " punt(en) of tekst(en) niet gebruikt");
    parts.push(".");
    if (info.crs_assumed) parts.push(" Het bestand noemt geen co\u00f6rdinatenstelsel: gelezen als RD New (EPSG:28992).");
    return parts.join("");
  }

  function heatText(h) {
    if ("mean_c" in h) {
      if (missing(h.mean_c)) return "De hittekaart heeft hier geen gegevens.";
      var share = missing(h.share_above) ? "" : "; " + procent(h.share_above * 100) + " van het plan ligt op of boven de drempel van " + graden(h.threshold_c, 1);
      return "Gemiddeld " + graden(h.mean_c) + " warmer dan het platteland, hoogstens " + graden(h.max_c) + share + ".";
    }
    if (!h.has_data || missing(h.value_c)) return "De hittekaart heeft hier geen gegevens.";
    return "Op deze plek " + graden(h.value_c) + " warmer dan het platteland; " +
      (h.above_threshold ? "op of boven" : "onder") + " de drempel van " + graden(h.threshold_c, 1) + ".";
  }

  function links() {
    var text = JSON.stringify(planFeature);
    var back = $("terug");
    if (text.length <= LINK_MAX) {
      back.href = "/quickscan#plan=" + encodeURIComponent(text);
      $("terug-uitleg").textContent = "(bewaar of deel deze link om hier terug te komen)";
    } else {
      back.href = "/quickscan";
      $("terug-uitleg").textContent = "(het plan is te groot voor een link: download het en upload het later weer)";
    }
    var old = $("download").href;
    if (old.indexOf("blob:") === 0) URL.revokeObjectURL(old);
    var collection = { type: "FeatureCollection", features: [planFeature] };
    $("download").href = URL.createObjectURL(new Blob([JSON.stringify(collection)], { type: "application/geo+json" }));
  }

  function report(kind) {
    if (!planFeature) return;
    var file = new File([JSON.stringify(planFeature)], "plan.geojson", { type: "application/geo+json" });
    var transfer = new DataTransfer();
    transfer.items.add(file);
    $("rapport-bestand").files = transfer.files;
    var form = $("rapport");
    form.action = "/check/file?f=" + kind;
    form.submit();
  }
  $("rapport-html").addEventListener("click", function () { report("html"); });
  $("rapport-pdf").addEventListener("click", function () { report("pdf"); });

  // --- the answer on the map -------------------------------------------------------------------------------
  function drawAnswer(report) {
    zones.clearLayers();
    natura.clearLayers();
    report.zones.forEach(function (z, i) {
      var colour = ZONE_COLOURS[i % ZONE_COLOURS.length];
      fetch("/collections/" + encodeURIComponent(z.layer) + "/items/" + encodeURIComponent(z.feature_id), {
        headers: { Accept: "application/geo+json" }
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (doc) {
        if (!doc || window.quickscan.report !== report) return;
        L.geoJSON(doc, {
          pane: "zones", interactive: false,
          style: { color: colour, weight: 2, fillOpacity: 0.12, dashArray: "6 4" }
        }).addTo(zones);
      }).catch(function () { /* the zone is named in the answer; the map just lacks its outline */ });
    });
    var n2k = report.natura2000;
    if (!n2k.inside && planFeature) {
      var target = L.latLng(n2k.nearest_point.wgs84.lat, n2k.nearest_point.wgs84.lon);
      var from = nearestOnPlan(planFeature.geometry, target);
      var label = "Natura 2000 (" + n2k.nearest.name + "): " + meters(n2k.distance_m);
      L.polyline([from, target], { color: "#1a7f37", weight: 3, dashArray: "8 6" }).bindTooltip(label).addTo(natura);
      L.circleMarker(target, { radius: 6, color: "#1a7f37", fillOpacity: 0.9 }).bindTooltip(label).addTo(natura);
    }
  }

  function nearestOnPlan(geometry, target) {
    var crs = L.CRS.EPSG3857;
    var t = crs.project(target);
    if (geometry.type === "Point") return L.latLng(geometry.coordinates[1], geometry.coordinates[0]);
    var rings = geometry.type === "Polygon" ? geometry.coordinates
      : geometry.type === "MultiPolygon" ? [].concat.apply([], geometry.coordinates) : [];
    var best = null, bestD = Infinity;
    rings.forEach(function (ring) {
      for (var i = 0; i + 1 < ring.length; i++) {
        var a = crs.project(L.latLng(ring[i][1], ring[i][0])), b = crs.project(L.latLng(ring[i + 1][1], ring[i + 1][0]));
        var dx = b.x - a.x, dy = b.y - a.y, len = dx * dx + dy * dy;
        var s = len ? Math.max(0, Math.min(1, ((t.x - a.x) * dx + (t.y - a.y) * dy) / len)) : 0;
        var p = L.point(a.x + s * dx, a.y + s * dy), d = p.distanceTo(t);
        if (d < bestD) { bestD = d; best = p; }
      }
    });
    return best ? crs.unproject(best) : target;
  }

  // --- coming back: /quickscan#plan=<GeoJSON> ----------------------------------------------------------------
  function fromLink() {
    var m = /^#plan=(.+)$/.exec(location.hash);
    if (!m) return;
    var feature;
    try { feature = JSON.parse(decodeURIComponent(m[1])); } catch (e) { feature = null; }
    var layer = feature && feature.geometry ? layerOf(feature) : null;
    if (!layer) { say("De link bevat geen leesbaar plan.", true); return; }
    layer.addTo(map);
    setPlan(layer);
    fit(layer);
    checkDrawn();
  }

  window.quickscan = { map: map, ready: true, report: null, answers: 0, plan: function () { return plan; },
    getal: getal, procent: procent, oppervlakte: oppervlakte,
    zoneLayers: function () { var n = 0; zones.eachLayer(function () { n += 1; }); return n; },
    naturaLine: function () { return natura.getLayers().length > 0; } };
  fromLink();
})();
