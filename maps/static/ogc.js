// Small map on the OGC API HTML pages: the page's features (or the collection's extent) over the basemap.
// Data comes from <script id="ogc-data" type="application/json">; names are set as text, never as HTML.
(function () {
  "use strict";
  function boot() {
    var el = document.getElementById("ogc-kaart");
    var src = document.getElementById("ogc-data");
    if (!el || !src || !window.L) { return; }
    var data = JSON.parse(src.textContent);
    var map = L.map(el, { scrollWheelZoom: false });
    L.tileLayer(data.tiles.url, { attribution: data.tiles.attribution, maxZoom: 19 }).addTo(map);
    var bounds = null;
    if (data.geojson) {
      var layer = L.geoJSON(data.geojson, {
        style: function () { return { color: "#1f78b4", weight: 2, fillOpacity: 0.2 }; },
        onEachFeature: function (feature, lyr) {
          var label = document.createElement("span");
          label.className = "ogc-label";
          var p = feature.properties || {};
          label.textContent = (p.name != null ? String(p.name) : String(feature.id));
          lyr.bindTooltip(label, { sticky: true });
        }
      }).addTo(map);
      if (layer.getLayers().length) { bounds = layer.getBounds(); }
    }
    if (!bounds && data.bbox) {
      var b = data.bbox;
      bounds = L.latLngBounds([b[1], b[0]], [b[3], b[2]]);
      L.rectangle(bounds, { color: "#1f78b4", weight: 2, fill: false, dashArray: "6 4" }).addTo(map);
    }
    if (bounds) { map.fitBounds(bounds, { padding: [12, 12], maxZoom: 17 }); } else { map.setView([52.99, 6.56], 11); }
    window.gebiedscheckOgc = { map: map, ready: true };
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", boot); } else { boot(); }
})();
