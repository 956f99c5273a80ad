/* Gebiedscheck Assen — kaartviewer: één zoekvak voor adressen en postcodes (PDOK Locatieserver, vanuit de browser),
 * coördinaten (WGS84 "52,99 6,56" of RD "234000 557000") en de namen van onze eigen gebieden (/kaart/gebieden).
 *
 * Een combobox volgens het ARIA-patroon: pijltjes kiezen in de lijst, Enter neemt de keuze, Escape sluit de lijst
 * (nog eens: maakt het vak leeg). Een keuze verschuift de kaart (de URL volgt) en vraagt de plek op, zoals een klik.
 * Antwoorden van de Locatieserver zijn gegevens: ze komen als tekst op het scherm, nooit als HTML. */
(function () {
  "use strict";
  var g = window.gebiedscheck;
  if (!g || !g.map || !g.query) { return; }
  var map = g.map, el = g.el, nl = g.nl, rd = g.rd;
  var cfg = g.search || {};
  var base = typeof cfg.locatieserver === "string" && /^https?:\/\/[^\s"'<>]+$/.test(cfg.locatieserver)
    ? cfg.locatieserver.replace(/\/+$/, "") : "";
  var MAX_Q = 100, ROWS = 7, MAX_ZONES = 6, MAX_TEXT = 200, WAIT_MS = 200, TIMEOUT_MS = 8000;
  var TYPES = { adres: "Adres", postcode: "Postcode", woonplaats: "Woonplaats", weg: "Straat" };
  var ZOOM = { adres: 18, postcode: 17, weg: 16, woonplaats: 13 };

  // --- the box, in the page's header (after the title) ---
  var kop = document.querySelector(".gc-kop");
  if (!kop) { return; }
  var box = el("div", null, "gc-zoek");
  box.setAttribute("role", "search");
  var label = el("label", "Zoek een adres, postcode, coördinaat of gebied", "gc-sr");
  label.htmlFor = "gc-zoekveld";
  var input = document.createElement("input");
  input.id = "gc-zoekveld";
  input.type = "text";
  input.className = "gc-zoekveld";
  input.maxLength = MAX_Q;
  input.autocomplete = "off";
  input.spellcheck = false;
  input.placeholder = "Zoek een adres, postcode, coördinaat of gebied";
  input.setAttribute("enterkeyhint", "search");
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", "gc-zoeklijst");
  input.setAttribute("aria-describedby", "gc-zoekuitleg");
  var hint = el("span", "Pijltjes omlaag en omhoog kiezen een resultaat, Enter gaat erheen, Escape sluit de lijst.",
    "gc-sr");
  hint.id = "gc-zoekuitleg";
  var drop = el("div", null, "gc-zoek-uitklap");
  drop.hidden = true;
  var list = el("ul", null, "gc-zoeklijst");
  list.id = "gc-zoeklijst";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Zoekresultaten");
  var note = el("p", null, "gc-zoek-melding");
  var source = el("p", base ? "Adressen en postcodes: PDOK Locatieserver (Kadaster)." : "", "gc-zoek-bron");
  drop.appendChild(list);
  drop.appendChild(note);
  drop.appendChild(source);
  var status = el("p", null, "gc-sr");
  status.setAttribute("role", "status");
  box.appendChild(label);
  box.appendChild(input);
  box.appendChild(hint);
  box.appendChild(drop);
  box.appendChild(status);
  var title = kop.querySelector("h1");
  kop.insertBefore(box, title ? title.nextSibling : kop.firstChild);

  // --- what is found: {label, sub, go()} ---
  var results = [], active = -1, typed = 0, pending = null, timer = null;

  function clip(s) { s = String(s); return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) + "…" : s; }
  function norm(s) { return String(s).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim(); }

  function setOpen(open) {
    drop.hidden = !open;
    input.setAttribute("aria-expanded", String(open && results.length > 0));
    if (!open) { setActive(-1); }
  }
  function setActive(i) {
    active = i;
    Array.prototype.forEach.call(list.children, function (li, j) { li.setAttribute("aria-selected", String(j === i)); });
    if (i >= 0 && list.children[i]) {
      input.setAttribute("aria-activedescendant", list.children[i].id);
      list.children[i].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }
  function say(text) { note.textContent = text || ""; note.hidden = !text; }

  function render(message) {
    list.textContent = "";
    results.forEach(function (r, i) {
      var li = el("li", null, "gc-zoek-optie");
      li.id = "gc-zoek-optie-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.appendChild(el("span", r.label, "gc-zoek-naam"));
      li.appendChild(el("span", r.sub, "gc-zoek-soort"));
      li.addEventListener("mousedown", function (e) { e.preventDefault(); });  // the box keeps the focus
      li.addEventListener("click", function () { choose(i); });
      list.appendChild(li);
    });
    list.hidden = results.length === 0;
    say(message);
    active = -1;
    input.removeAttribute("aria-activedescendant");
    var open = results.length > 0 || Boolean(message);
    setOpen(open && document.activeElement === input);
    status.textContent = results.length === 0 ? (message || "") :
      results.length + (results.length === 1 ? " resultaat" : " resultaten") + (message ? "; " + message : "");
  }

  // --- coordinates: "52.99, 6.56", "52,99 6,56" (lat, lon) or "234000 557000", "234000, 557000" (RD x y) ---
  function coordinate(text) {
    var s = text.trim().replace(/\s+/g, " ");
    if (/^-?\d+,\d+$/.test(s)) { return null; }  // one number with a decimal comma
    var m = /^(-?\d+(?:\.\d+)?) ?(?:[,;] ?| )(-?\d+(?:\.\d+)?)$/.exec(s) ||
      /^(-?\d+(?:,\d+)?) ?(?:; ?| )(-?\d+(?:,\d+)?)$/.exec(s);
    if (!m) { return null; }
    var a = parseFloat(m[1].replace(",", ".")), b = parseFloat(m[2].replace(",", "."));
    if (!isFinite(a) || !isFinite(b)) { return null; }
    var nlLat = function (lat, lon) { return lat >= 50.6 && lat <= 53.7 && lon >= 3.2 && lon <= 7.3; };
    if (nlLat(a, b) || nlLat(b, a)) {
      var lat = nlLat(a, b) ? a : b, lon = nlLat(a, b) ? b : a;
      return { latlng: L.latLng(lat, lon), label: nl(lat, 5) + "° N, " + nl(lon, 5) + "° O", sub: "Coördinaat (WGS84)" };
    }
    var xy = rd.isRD(a, b) ? [a, b] : rd.isRD(b, a) ? [b, a] : null;
    if (xy) {
      return { latlng: rd.toLatLng(xy[0], xy[1]), label: "RD x " + nl(xy[0], 0, false) + ", y " + nl(xy[1], 0, false),
        sub: "Coördinaat (RD)" };
    }
    return { outside: true };
  }

  // --- our own zones: /kaart/gebieden, fetched once (same origin: works without the Locatieserver) ---
  var zones = null, zonesAsked = false;
  function loadZones() {
    if (zonesAsked || !cfg.zones) { return; }
    zonesAsked = true;
    fetch(cfg.zones, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.statusText); } return r.json(); })
      .then(function (body) {
        zones = (body && Array.isArray(body.zones) ? body.zones : []).filter(function (z) {
          return z && typeof z.name === "string" && isFinite(z.lat) && isFinite(z.lon) && Array.isArray(z.bbox) &&
            z.bbox.length === 4 && z.bbox.every(isFinite);
        }).map(function (z) { return Object.assign({ key: norm(z.name), layerKey: norm(z.layer_title || "") }, z); });
        if (input.value.trim()) { update(true); }
      })
      .catch(function () { zones = []; });
  }
  function zoneMatches(q) {
    if (!zones || q.length < 2) { return []; }
    var found = [];
    zones.forEach(function (z) {
      var rank = z.key.indexOf(q) === 0 ? 0 : (" " + z.key).indexOf(" " + q) >= 0 ? 1 : z.key.indexOf(q) >= 0 ? 2 :
        z.layerKey.indexOf(q) >= 0 ? 3 : -1;
      if (rank >= 0) { found.push({ rank: rank, z: z }); }
    });
    found.sort(function (a, b) { return a.rank - b.rank || a.z.name.localeCompare(b.z.name, "nl"); });
    return found.slice(0, MAX_ZONES).map(function (f) {
      var z = f.z;
      var sub = "Gebied" + (z.layer_title && z.layer_title !== z.name ? " · " + clip(z.layer_title) : "") +
        (z.category ? " (" + clip(z.category) + ")" : "");
      return {
        label: clip(z.name), sub: sub,
        go: function () {
          map.fitBounds([[z.bbox[1], z.bbox[0]], [z.bbox[3], z.bbox[2]]], { animate: false, maxZoom: 17 });
          return Promise.resolve(L.latLng(z.lat, z.lon));
        }
      };
    });
  }

  // --- the Locatieserver: suggest while typing, lookup for the chosen id ---
  function getRemote(path, params, signal) {
    var url = base + path + "?" + params.toString();
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "omit", mode: "cors", signal: signal })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (body) {
        var docs = body && body.response && Array.isArray(body.response.docs) ? body.response.docs : null;
        if (!docs) { throw new Error("onverwacht antwoord"); }
        return docs;
      });
  }
  function withTimeout() {
    var ctl = new AbortController();
    setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
    return ctl;
  }
  function suggest(text, mine, local) {
    if (pending) { pending.abort(); }
    pending = withTimeout();
    var p = new URLSearchParams();
    p.set("q", text);
    p.set("fq", "type:(adres OR postcode OR woonplaats OR weg)");
    p.set("bq", "gemeentenaam:Assen^2");  // prefer Assen, without leaving the rest of the country out
    p.set("rows", String(ROWS));
    getRemote("/suggest", p, pending.signal).then(function (docs) {
      if (mine !== typed) { return; }  // an answer to an older text
      var found = docs.filter(function (d) {
        return d && typeof d.id === "string" && d.id.length > 0 && d.id.length <= 200 && typeof d.weergavenaam === "string";
      }).slice(0, ROWS).map(function (d) {
        var type = typeof d.type === "string" && TYPES[d.type] ? d.type : "";
        return { label: clip(d.weergavenaam), sub: TYPES[type] || "Plaats", go: function () { return lookup(d.id, type); } };
      });
      results = local.concat(found);
      render(results.length === 0 ? "Niets gevonden voor deze tekst." : "");
    }).catch(function (err) {
      if (mine !== typed) { return; }  // aborted for a newer text, or an answer to an older one
      results = local;
      render("Adressen zoeken lukt nu niet (PDOK Locatieserver antwoordt niet).");
    });
  }
  function point(wkt) {
    var m = /^POINT\(\s*(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s*\)$/.exec(String(wkt || "").trim());
    return m ? [parseFloat(m[1]), parseFloat(m[2])] : null;
  }
  function lookup(id, type) {
    var p = new URLSearchParams();
    p.set("id", id);
    p.set("fl", "id,weergavenaam,centroide_ll,centroide_rd");
    return getRemote("/lookup", p, withTimeout().signal).then(function (docs) {
      var d = docs[0] || {}, ll = point(d.centroide_ll), xy = point(d.centroide_rd), where = null;
      if (ll && Math.abs(ll[1]) <= 90 && Math.abs(ll[0]) <= 180) { where = L.latLng(ll[1], ll[0]); }
      else if (xy && rd.isRD(xy[0], xy[1])) { where = rd.toLatLng(xy[0], xy[1]); }
      if (!where) { throw new Error("geen geldige plek in het antwoord"); }
      map.setView(where, Math.min(ZOOM[type] || 16, map.getMaxZoom() || 19), { animate: false });
      return where;
    });
  }

  // --- typing, choosing ---
  function update(remote) {
    typed += 1;
    var mine = typed, text = input.value.slice(0, MAX_Q), q = norm(text);
    clearTimeout(timer);
    if (pending) { pending.abort(); pending = null; }
    if (!q) { results = []; render(""); setOpen(false); return; }
    var c = coordinate(text), local = [];
    if (c && c.outside) {
      results = [];
      render("Deze coördinaten liggen niet in Nederland. Typ breedte, lengte (52,99 6,56) of RD x y (234000 557000).");
      return;
    }
    if (c) {
      local.push({ label: c.label, sub: c.sub, go: function () {
        map.setView(c.latlng, Math.max(map.getZoom(), 16), { animate: false });
        return Promise.resolve(c.latlng);
      } });
    }
    local = local.concat(zoneMatches(q));
    results = local;
    var asking = remote && base && !c && q.length >= 3;
    render(results.length === 0 && !asking ? (zones === null && cfg.zones ? "Bezig met laden…" : "Niets gevonden.") : "");
    if (asking) { timer = setTimeout(function () { suggest(text, mine, local); }, WAIT_MS); }
  }

  function choose(i) {
    var r = results[i];
    if (!r) { return; }
    typed += 1;  // late suggestions no longer apply
    if (pending) { pending.abort(); pending = null; }
    clearTimeout(timer);
    input.value = r.label;
    setOpen(false);
    say("");
    status.textContent = "Bezig met " + r.label + "…";
    r.go().then(function (latlng) {
      status.textContent = "";
      g.query(latlng);  // opens the answer there (and gives it the focus), as a click does
    }).catch(function (err) {
      results = [];
      render("Deze plek kon niet worden gevonden: " + (err && err.message ? err.message : "onbekende fout") + ".");
      setOpen(true);
    });
  }

  input.addEventListener("focus", function () { loadZones(); if (results.length || !note.hidden) { setOpen(true); } });
  input.addEventListener("input", function () { loadZones(); update(true); });
  input.addEventListener("blur", function () { setTimeout(function () { if (document.activeElement !== input) { setOpen(false); } }, 0); });
  input.addEventListener("keydown", function (e) {
    var n = results.length;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (drop.hidden) { setOpen(true); }
      if (n === 0) { return; }
      setActive(e.key === "ArrowDown" ? (active + 1) % n : (active <= 0 ? n - 1 : active - 1));
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (n > 0) { choose(active >= 0 ? active : 0); }
    } else if (e.key === "Escape") {
      e.preventDefault();
      if (!drop.hidden) { setOpen(false); } else { input.value = ""; update(false); }
    } else if (e.key === "Tab") {
      setOpen(false);
    }
  });

  g.search = Object.assign(cfg, { input: input, coordinate: coordinate });
})();
