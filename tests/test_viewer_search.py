"""The viewer's search box and measure tool (issue 12, items 4 and 7), in real headless Chromium against a real
server on loopback. Addresses come from a local stand-in of PDOK's Locatieserver (a tiny HTTP server on
127.0.0.1 answering /suggest and /lookup in the Locatieserver's JSON format): no network in tests.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer

from maps.assets import assets_installed
from service.api.app import create_app
from tests.conftest import ARTIFACTS, live_server
from tests.test_viewer import TILE_HOSTS, Page
from tests.test_viewer_ux import AXE, VIEWPORTS, axe_violations

pytestmark = [
    pytest.mark.skipif(not assets_installed(), reason="map assets not installed (make install runs npm ci)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core not installed (make install runs npm ci in maps/assets)"),
]
TO_RD = Transformer.from_crs(4326, 28992, always_xy=True)
TO_WGS = Transformer.from_crs(28992, 4326, always_xy=True)
MUSEUM = (52.9926, 6.5636)  # the Drents Museum (Binnenstad, Publiekshart): RD 233988, 556826
ELSEWHERE = "/kaart?lat=53.01000&lon=6.60000&zoom=13"
LS_PATH = "/bzk/locatieserver/search/v3_1"
SUGGEST_DOCS = [
    {"id": "adr-brink-1", "weergavenaam": "Brink 1, 9401HS Assen", "type": "adres", "score": 14.2},
    {"id": "pcd-9401hs", "weergavenaam": "9401HS Assen", "type": "postcode", "score": 9.1},
    {"id": "weg-evil", "weergavenaam": "<img src=x onerror=alert(2)>straat, Assen", "type": "weg", "score": 3.0},
]
LOOKUP = {
    "adr-brink-1": {"centroide_ll": "POINT(6.5636 52.9926)", "centroide_rd": "POINT(233988 556826)"},
    "pcd-9401hs": {"centroide_ll": "POINT(6.5641 52.9931)", "centroide_rd": "POINT(234021 556882)"},
}


class StandIn(BaseHTTPRequestHandler):
    """/suggest and /lookup as the Locatieserver documents them (v3.1), with CORS for the browser."""

    seen: list[tuple[str, dict[str, list[str]]]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.seen.append((url.path, query))
        if url.path == f"{LS_PATH}/suggest":
            q = query.get("q", [""])[0].lower()
            docs = [d for d in SUGGEST_DOCS if q and (q in d["weergavenaam"].lower() or q.startswith("brink"))]
            hl = {d["id"]: {"suggest": [f"<b>{d['weergavenaam']}</b>"]} for d in docs}
            body: dict[str, Any] = {
                "response": {"numFound": len(docs), "start": 0, "maxScore": 14.2, "numFoundExact": True, "docs": docs},
                "highlighting": hl,
            }
        elif url.path == f"{LS_PATH}/lookup":
            ident = query.get("id", [""])[0]
            doc = {"id": ident, "weergavenaam": "?", **LOOKUP.get(ident, {})} if ident in LOOKUP else None
            body = {"response": {"numFound": int(doc is not None), "start": 0, "docs": [doc] if doc else []}}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(qsettings, standin: str) -> Iterator[str]:
    with live_server(create_app(qsettings.model_copy(update={"locatieserver_url": standin + LS_PATH}))) as url:
        yield url


@pytest.fixture(scope="module")
def offline(qsettings) -> Iterator[str]:
    with live_server(create_app(qsettings.model_copy(update={"locatieserver_url": ""}))) as url:
        yield url


def csp_of(headers: Any) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))


def asked_at(p: Page) -> list[float] | None:
    """Where the answer was asked: the answer's marker (a non-interactive circle marker)."""
    result: list[float] | None = p.page.evaluate(
        "(() => { const m = window.gebiedscheck.map; let ll = null;"
        " m.eachLayer(l => { if (l instanceof L.CircleMarker && !l.options.interactive &&"
        " !(l.options.className || '').includes('gc-meetpunt')) { ll = l.getLatLng(); } });"
        " return ll && [ll.lat, ll.lng]; })()"
    )
    return result


def url_state(p: Page) -> dict[str, float]:
    q = parse_qs(urlsplit(p.page.url).query)
    return {k: float(q[k][0]) for k in ("lat", "lon", "zoom")}


def search(p: Page, text: str) -> None:
    p.page.focus("#gc-zoekveld")
    p.page.fill("#gc-zoekveld", "")
    p.page.keyboard.type(text, delay=15)


def options(p: Page) -> list[str]:
    result: list[str] = p.page.evaluate(
        "Array.from(document.querySelectorAll('#gc-zoeklijst [role=option]')).map(o => o.textContent)"
    )
    return result


def wait_answer(p: Page) -> str:
    p.page.wait_for_selector(".gc-popup h2", timeout=10000)
    return p.page.inner_text(".gc-popup")


def test_csp_names_the_locatieserver_only_when_set(qsettings, standin: str) -> None:
    given = {standin + LS_PATH: f"'self' {standin}", "": "'self'"}
    given["https://api.pdok.nl/bzk/locatieserver/search/v3_1"] = "'self' https://api.pdok.nl"  # the default
    for url, connect in given.items():
        with TestClient(create_app(qsettings.model_copy(update={"locatieserver_url": url}))) as client:
            r = client.get("/kaart")
            assert r.status_code == 200
            assert csp_of(r.headers)["connect-src"] == connect, (url, r.headers["content-security-policy"])
            boot = re.search(r"search: (\{[^}]*\})", r.text)
            assert boot is not None and json.loads(boot.group(1))["locatieserver"] == url.rstrip("/")
            assert csp_of(client.get("/over").headers)["connect-src"] == connect
    with TestClient(create_app(qsettings.model_copy(update={"locatieserver_url": "javascript:alert(1)"}))) as client:
        r = client.get("/kaart")
        assert csp_of(r.headers)["connect-src"] == "'self'" and '"locatieserver": ""' in r.text


def test_zone_names_endpoint(qclient) -> None:
    r = qclient.get("/kaart/gebieden")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["truncated"] is False and body["count"] == len(body["zones"]) >= 20
    haven = next(z for z in body["zones"] if z["name"] == "Havenkwartier")
    assert haven["layer"] == "havenkwartier" and haven["category"] == "Omgevingsvisie"
    w, s, e, n = haven["bbox"]
    assert w < haven["lon"] < e and s < haven["lat"] < n and 6.5 < w < e < 6.7 and 52.9 < s < n < 53.1
    # Omgevingsvisie first, the reference layers (the municipal boundary among them) last. Other tests may add
    # reference layers of their own to this shared database, so the rule is checked, not one layer's place.
    from maps.viewer import CATEGORIES

    kinds = [z["category"] for z in body["zones"]]
    first_reference = kinds.index(CATEGORIES["referentie"])
    assert set(kinds[first_reference:]) == {CATEGORIES["referentie"]}
    assert "gemeentegrens" in {z["layer"] for z in body["zones"][first_reference:]}
    assert kinds[0] == CATEGORIES["omgevingsvisie"]
    assert any(z["name"] == "<img src=x onerror=alert(1)>" for z in body["zones"])  # data, escaped by JSON only


def test_an_address_chosen_with_the_keyboard(server: str, browser) -> None:
    StandIn.seen.clear()
    p = Page(browser, f"{server}{ELSEWHERE}", viewport=VIEWPORTS["desktop"])
    for _ in range(4):  # the search box is the first stop after the title: reachable with Tab
        p.page.keyboard.press("Tab")
        if p.page.evaluate("document.activeElement.id") == "gc-zoekveld":
            break
    else:
        pytest.fail("Tab never reached the search box")
    box = p.page.locator("#gc-zoekveld")
    assert box.get_attribute("role") == "combobox" and box.get_attribute("aria-expanded") == "false"
    label = p.page.evaluate("document.querySelector('label[for=gc-zoekveld]').textContent")
    assert label == "Zoek een adres, postcode, coördinaat of gebied"
    p.page.keyboard.type("Brink 1", delay=15)
    p.page.wait_for_function("() => document.querySelectorAll('#gc-zoeklijst [role=option]').length === 3")
    shown = options(p)
    assert shown[0] == "Brink 1, 9401HS AssenAdres" and shown[1] == "9401HS AssenPostcode", shown
    assert shown[2] == "<img src=x onerror=alert(2)>straat, AssenStraat"  # a remote name stays text
    assert p.page.evaluate("document.querySelectorAll('#gc-zoeklijst img').length") == 0
    assert box.get_attribute("aria-expanded") == "true" and p.page.is_visible("#gc-zoeklijst")
    assert "PDOK Locatieserver" in p.page.inner_text(".gc-zoek-uitklap")
    p.page.keyboard.press("ArrowDown")
    p.page.keyboard.press("ArrowDown")
    p.page.keyboard.press("ArrowUp")
    first = p.page.evaluate("document.querySelector('#gc-zoeklijst [role=option]').id")
    assert box.get_attribute("aria-activedescendant") == first
    assert p.page.get_attribute(f"#{first}", "aria-selected") == "true"
    p.page.keyboard.press("Enter")
    text = wait_answer(p)
    assert "Binnenstad" in text and "Publiekshart" in text and re.search(r"RD x 2339\d\d, y 5568\d\d", text), text
    assert asked_at(p) == pytest.approx(list(MUSEUM), abs=1e-6)  # asked at the lookup's centroid
    assert p.page.evaluate("document.querySelector('.gc-popup').contains(document.activeElement)")
    p.page.wait_for_timeout(300)
    state = url_state(p)  # the map moved there (the URL follows; the answer panel may pan it a little)
    assert state["zoom"] == 18 and abs(state["lat"] - MUSEUM[0]) < 0.003 and abs(state["lon"] - MUSEUM[1]) < 0.005
    assert box.get_attribute("aria-expanded") == "false" and box.input_value() == "Brink 1, 9401HS Assen"
    suggests = [q for path, q in StandIn.seen if path.endswith("/suggest")]
    assert suggests and suggests[-1]["q"] == ["Brink 1"] and suggests[-1]["rows"] == ["7"]
    assert suggests[-1]["fq"] == ["type:(adres OR postcode OR woonplaats OR weg)"]
    assert suggests[-1]["bq"] == ["gemeentenaam:Assen^2"]
    lookups = [q for path, q in StandIn.seen if path.endswith("/lookup")]
    assert lookups == [{"id": ["adr-brink-1"], "fl": ["id,weergavenaam,centroide_ll,centroide_rd"]}]
    assert p.errors == [] and p.not_tiles() == [] and p.dialogs == []
    p.page.close()


@pytest.mark.parametrize(
    ("typed", "where", "shown"),
    [
        ("52.99, 6.56", (52.99, 6.56), "52,99000° N, 6,56000° O"),
        ("52,99 6,56", (52.99, 6.56), "52,99000° N, 6,56000° O"),
        ("233988 556826", None, "RD x 233988, y 556826"),
        ("234000, 557000", None, "RD x 234000, y 557000"),
    ],
)
def test_a_coordinate_moves_the_map_and_asks(server: str, browser, typed: str, where: Any, shown: str) -> None:
    if where is None:
        x, y = (float(v) for v in typed.replace(",", " ").split())
        lon, lat = TO_WGS.transform(x, y)
        where = (lat, lon)
    p = Page(browser, f"{server}{ELSEWHERE}", viewport=VIEWPORTS["desktop"])
    search(p, typed)
    p.page.wait_for_function("() => document.querySelectorAll('#gc-zoeklijst [role=option]').length >= 1")
    assert options(p)[0].startswith(shown), options(p)
    p.page.keyboard.press("Enter")  # Enter takes the first result
    text = wait_answer(p)
    assert "Deze plek" in text
    assert asked_at(p) == pytest.approx(list(where), abs=2e-5)  # RD: the browser's approximation, within ~2 m
    if typed.startswith("2339"):
        assert re.search(r"RD x 23398[6-9]|RD x 23399[01]", text), text  # the server's exact RD, back again
    p.page.wait_for_timeout(300)
    state = url_state(p)
    assert state["zoom"] == 16 and abs(state["lat"] - where[0]) < 0.01 and abs(state["lon"] - where[1]) < 0.02
    assert p.errors == [] and p.dialogs == []
    p.page.close()


def test_outside_the_country_and_escape(server: str, browser) -> None:
    p = Page(browser, f"{server}{ELSEWHERE}", viewport=VIEWPORTS["desktop"])
    search(p, "48.85 2.35")
    p.page.wait_for_selector(".gc-zoek-melding:not([hidden])")
    assert "niet in Nederland" in p.page.inner_text(".gc-zoek-melding") and options(p) == []
    search(p, "Havenk")
    p.page.wait_for_function("() => document.querySelectorAll('#gc-zoeklijst [role=option]').length >= 1")
    p.page.keyboard.press("Escape")  # closes the list
    assert p.page.get_attribute("#gc-zoekveld", "aria-expanded") == "false" and not p.page.is_visible("#gc-zoeklijst")
    assert p.page.input_value("#gc-zoekveld") == "Havenk"
    p.page.keyboard.press("Escape")  # empties the box
    assert p.page.input_value("#gc-zoekveld") == ""
    assert p.page.query_selector(".gc-popup") is None and p.errors == []
    p.page.close()


def test_a_zone_is_found_offline(offline: str, browser) -> None:
    p = Page(browser, f"{offline}{ELSEWHERE}", viewport=VIEWPORTS["desktop"])
    requests: list[str] = []
    p.page.on("request", lambda r: requests.append(r.url))
    search(p, "havenkw")
    p.page.wait_for_function("() => document.querySelectorAll('#gc-zoeklijst [role=option]').length >= 1")
    assert options(p)[0] == "HavenkwartierGebied (Omgevingsvisie)", options(p)
    assert "PDOK" not in p.page.inner_text(".gc-zoek-uitklap")
    p.page.keyboard.press("ArrowDown")
    p.page.keyboard.press("Enter")
    text = wait_answer(p)
    assert "Havenkwartier" in text, text
    # A name with markup in it (the test layer's) is text in the list too.
    search(p, "<img")
    p.page.wait_for_function("() => document.querySelectorAll('#gc-zoeklijst [role=option]').length >= 1")
    assert options(p)[0].startswith("<img src=x onerror=alert(1)>")
    assert p.page.evaluate("document.querySelectorAll('#gc-zoek img, .gc-zoek img').length") == 0
    origin = offline.rstrip("/")
    # Nothing but our own origin (and the basemap's tiles, which the test browser never lets out).
    other = [u for u in requests if not u.startswith(origin + "/") and urlsplit(u).hostname not in TILE_HOSTS]
    assert requests and other == [], other
    assert any(u == f"{origin}/kaart/gebieden" for u in requests)
    assert p.errors == [] and p.dialogs == []
    p.page.close()


def measured(p: Page) -> dict[str, float]:
    """The measure tool's result, as a person reads it (Dutch notation) → metres and square metres."""
    text = p.page.inner_text("#gc-meetuitkomst")
    out: dict[str, float] = {}
    m = re.search(r"(?:Lengte|Omtrek): ([\d.]+(?:,\d)?) (m|km)", text)
    if m:
        value = float(m.group(1).replace(".", "").replace(",", "."))
        out["length"] = value * (1000 if m.group(2) == "km" else 1)
    a = re.search(r"Oppervlakte: (?:([\d.]+,\d) ha \()?([\d.]+) m²", text)
    if a:
        out["area"] = float(a.group(2).replace(".", ""))
        if a.group(1):
            assert float(a.group(1).replace(".", "").replace(",", ".")) == pytest.approx(out["area"] / 1e4, abs=0.05)
    return out


def rd_points(p: Page) -> list[tuple[float, float]]:
    return [TO_RD.transform(lon, lat) for lat, lon in p.page.evaluate("window.gebiedscheck.measure.points()")]


def click_map(p: Page, x: float, y: float) -> None:
    box = p.page.locator(".leaflet-container").bounding_box()
    assert box is not None
    p.page.mouse.click(box["x"] + x, box["y"] + y)
    p.page.wait_for_timeout(250)


def test_measure_length_and_area(server: str, browser) -> None:
    p = Page(browser, f"{server}/kaart?lat=52.9926&lon=6.5636&zoom=15", viewport=VIEWPORTS["desktop"])
    p.page.click(".gc-meetknop")
    assert p.page.get_attribute(".gc-meetknop", "aria-pressed") == "true" and p.page.is_visible(".gc-meetpaneel")
    click_map(p, 600, 300)
    click_map(p, 1000, 600)
    pts = rd_points(p)
    assert len(pts) == 2
    known = ((pts[1][0] - pts[0][0]) ** 2 + (pts[1][1] - pts[0][1]) ** 2) ** 0.5  # RD distance (pyproj)
    got = measured(p)
    assert got["length"] == pytest.approx(known, rel=0.01), (got, known)
    assert re.fullmatch(r"Lengte: \d\.\d{3} m", p.page.inner_text("#gc-meetuitkomst").strip())  # 1.234 m
    assert p.page.query_selector(".gc-popup") is None  # clicks measure, they do not ask
    p.page.click("text=Opnieuw")
    for x, y in ((600, 250), (900, 250), (900, 550), (600, 550)):
        click_map(p, x, y)
    click_map(p, 602, 251)  # on the first point: the shape closes
    text = p.page.inner_text("#gc-meetuitkomst")
    assert "Oppervlakte:" in text and "ha (" in text, text
    pts = rd_points(p)
    assert len(pts) == 4
    known_area = abs(sum(pts[i][0] * pts[i - 3][1] - pts[i - 3][0] * pts[i][1] for i in range(4))) / 2
    known_perimeter = sum(
        ((pts[i][0] - pts[i - 1][0]) ** 2 + (pts[i][1] - pts[i - 1][1]) ** 2) ** 0.5 for i in range(4)
    )
    got = measured(p)
    assert got["area"] == pytest.approx(known_area, rel=0.02), (got, known_area)
    assert got["length"] == pytest.approx(known_perimeter, rel=0.01), (got, known_perimeter)
    p.page.keyboard.press("Escape")  # the map has the focus after a click: Escape ends the tool
    assert p.page.get_attribute(".gc-meetknop", "aria-pressed") == "false"
    assert p.page.query_selector(".gc-meetpaneel") is None
    assert p.page.evaluate("window.gebiedscheck.measure.points()") == []
    click_map(p, 700, 400)  # a click asks again
    wait_answer(p)
    assert p.errors == [] and p.dialogs == []
    p.page.close()


def test_measure_with_the_keyboard(server: str, browser) -> None:
    p = Page(browser, f"{server}/kaart?lat=52.9926&lon=6.5636&zoom=15", viewport=VIEWPORTS["desktop"])
    p.page.focus(".gc-meetknop")
    p.page.keyboard.press("Enter")
    assert p.page.evaluate("document.activeElement === window.gebiedscheck.map.getContainer()")  # ready for Enter
    p.page.keyboard.press("Enter")  # a point at the crosshair
    p.page.evaluate("window.gebiedscheck.map.panBy([240, 0], {animate: false})")  # as the arrow keys do
    p.page.keyboard.press("Enter")
    p.page.keyboard.press("Enter")  # the same place again: no length added
    pts = rd_points(p)
    assert len(pts) == 3
    known = ((pts[1][0] - pts[0][0]) ** 2 + (pts[1][1] - pts[0][1]) ** 2) ** 0.5
    assert measured(p)["length"] == pytest.approx(known, rel=0.01)
    assert p.page.get_attribute("#gc-meetuitkomst", "role") == "status"  # read out as it changes
    p.page.keyboard.press("Backspace")
    assert len(rd_points(p)) == 2
    assert p.page.query_selector(".gc-popup") is None  # Enter set points, it did not ask
    p.page.keyboard.press("Escape")
    assert p.page.get_attribute(".gc-meetknop", "aria-pressed") == "false"
    p.page.focus(".gc-meetknop")
    p.page.keyboard.press("Space")
    assert p.page.get_attribute(".gc-meetknop", "aria-pressed") == "true"
    p.page.focus(".gc-meetknop")
    p.page.keyboard.press("Space")  # the button ends it too
    assert p.page.get_attribute(".gc-meetknop", "aria-pressed") == "false"
    assert p.errors == []
    p.page.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_axe_with_the_search_open_and_the_measure_tool_on(server: str, browser, size: str) -> None:
    width, height = VIEWPORTS[size]
    p = Page(browser, f"{server}/kaart?lat=52.9926&lon=6.5636&zoom=15", viewport=(width, height))
    search(p, "Brink")
    p.page.wait_for_function("() => document.querySelectorAll('#gc-zoeklijst [role=option]').length === 3")
    p.page.keyboard.press("ArrowDown")
    violations = axe_violations(p, server)
    assert violations == [], json.dumps(violations, indent=1, ensure_ascii=False)
    drop = p.page.locator(".gc-zoek-uitklap").bounding_box()
    assert drop is not None and drop["x"] >= 0 and drop["x"] + drop["width"] <= width
    ARTIFACTS.mkdir(exist_ok=True)
    p.page.screenshot(path=str(ARTIFACTS / f"kaart-zoeken-{size}.png"))
    p.page.keyboard.press("Escape")
    p.page.click(".gc-meetknop")
    w, h = p.page.evaluate("[window.gebiedscheck.map.getSize().x, window.gebiedscheck.map.getSize().y]")
    for fx, fy in ((0.55, 0.2), (0.8, 0.25), (0.75, 0.45)):
        click_map(p, w * fx, h * fy)
    panel = p.page.locator(".gc-meetpaneel").bounding_box()
    assert panel is not None and panel["x"] >= 0 and panel["x"] + panel["width"] <= width
    assert panel["y"] + panel["height"] <= height + 1
    violations = axe_violations(p, server)
    assert violations == [], json.dumps(violations, indent=1, ensure_ascii=False)
    p.page.screenshot(path=str(ARTIFACTS / f"kaart-meten-{size}.png"))
    assert p.errors == []
    p.page.close()
