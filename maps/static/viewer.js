/* Gebiedscheck Assen — kaartviewer: klik (of Enter) om een plek op te vragen; de kaartstand staat in de URL. */
(function () {
  "use strict";
  var g = window.gebiedscheck;
  if (!g || !g.map) { return; }
  var map = g.map;
  var api = g.api || "";

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }  // text, never HTML
    if (cls) { e.className = cls; }
    return e;
  }
  function nl(x, digits) {
    return Number(x).toLocaleString("nl-NL", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function getJSON(path, lat, lon) {
    var url = api + path + "?lat=" + lat.toFixed(6) + "&lon=" + lon.toFixed(6);
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body && body.detail ? body.detail : r.statusText); }
        return body;
      });
    });
  }

  function query(latlng) {
    var box = el("div", null, "gc-popup");
    box.setAttribute("aria-live", "polite");
    box.appendChild(el("p", "Bezig met opvragen…"));
    L.popup({ maxWidth: 340, autoPanPadding: [20, 20] }).setLatLng(latlng).setContent(box).openOn(map);
    var lat = latlng.lat, lon = latlng.lng;
    Promise.all([getJSON("/zones/at", lat, lon), getJSON("/natura2000/distance", lat, lon), getJSON("/heat/at", lat, lon)])
      .then(function (answers) {
        var zones = answers[0], n2k = answers[1], heat = answers[2];
        box.textContent = "";
        box.appendChild(el("h2", "Deze plek"));
        box.appendChild(el("p", nl(lat, 5) + " N, " + nl(lon, 5) + " O · RD " + Math.round(zones.location.rd.x) + ", " +
          Math.round(zones.location.rd.y), "gc-where"));
        if (zones.in_municipality === false) { box.appendChild(el("p", "Buiten de gemeente Assen.", "gc-let-op")); }
        box.appendChild(el("h3", "Gebieden uit de Omgevingsvisie"));
        if (zones.zones.length === 0) {
          box.appendChild(el("p", "Geen gebied op deze plek."));
        } else {
          var ul = el("ul", null, "gc-zones");
          zones.zones.forEach(function (z) {
            var li = el("li");
            li.appendChild(el("strong", z.name));
            li.appendChild(el("span", " (" + z.layer_title + ", " + z.source.label + ")"));
            if (z.policy && z.policy.summary) {
              li.appendChild(el("p", (z.policy.section ? z.policy.section + ": " : "") + z.policy.summary, "gc-beleid"));
            }
            ul.appendChild(li);
          });
          box.appendChild(ul);
        }
        box.appendChild(el("h3", "Natura 2000"));
        var site = n2k.nearest.site_number ? " (gebied " + n2k.nearest.site_number + ")" : "";
        box.appendChild(el("p", n2k.inside
          ? "Ligt in " + n2k.nearest.name + site + " — afstand 0 m."
          : n2k.nearest.name + site + ": " + nl(n2k.distance_m, 0) + " m (" + n2k.band.label + ")."));
        box.appendChild(el("h3", "Hitte-eiland"));
        box.appendChild(el("p", heat.value_c === null ? "Geen gegevens op deze plek."
          : nl(heat.value_c, 2) + " °C warmer dan het platteland (zomergemiddelde)."));
        box.appendChild(el("p", "Indicatief; geen AERIUS-berekening en geen officiële begrenzing.", "gc-klein"));
      })
      .catch(function (err) {
        box.textContent = "";
        box.appendChild(el("p", "Deze plek kon niet worden opgevraagd: " + err.message, "gc-let-op"));
      });
  }

  map.on("click", function (e) { query(e.latlng); });
  var container = map.getContainer();
  container.setAttribute("aria-label", "Kaart van Assen. Pijltjestoetsen: verschuiven, plus en min: zoomen, " +
    "Enter: het midden van de kaart opvragen.");
  container.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target === container) { query(map.getCenter()); }
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
  window.gebiedscheck.query = query;
  window.gebiedscheck.ready = true;
})();
