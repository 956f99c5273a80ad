"""The viewer as residents and planners use it (issue 12), in real headless Chromium (Debian's) against a real
server on loopback: the answer to a click fits the screen on a desktop and on a phone, the keyboard reaches it,
every control speaks Dutch, the phone layout folds its legend away, and axe-core (from our npm copy, never a
CDN) finds no WCAG 2.1 A/AA violation on /kaart, /over and /toegankelijkheid.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import httpx
import pytest

from maps.assets import NODE_MODULES, assets_installed
from tests.conftest import ARTIFACTS
from tests.test_viewer import Page

AXE = NODE_MODULES / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
MUSEUM = "/kaart?lat=52.9926&lon=6.5636&zoom=16"  # the Drents Museum, in Binnenstad and Publiekshart
VIEWPORTS = {"desktop": (1400, 900), "phone": (390, 844)}
ENGLISH = ("Zoom in", "Zoom out", "Layers", "Close popup", "A JavaScript library for interactive maps")

pytestmark = [
    pytest.mark.skipif(not assets_installed(), reason="map assets not installed (make install runs npm ci)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core not installed (make install runs npm ci in maps/assets)"),
]


def viewer(browser, url: str, viewport: tuple[int, int]) -> Page:  # type: ignore[no-untyped-def]
    return Page(browser, url, viewport=viewport)


def click_centre(p: Page) -> dict[str, Any]:
    """Click the middle of the map with the mouse; the answer's box once it has arrived."""
    box = p.page.locator(".leaflet-container").bounding_box()
    assert box is not None
    p.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    p.page.wait_for_selector(".gc-popup h2", timeout=10000)  # the answer, not "Bezig met opvragen…"
    p.page.wait_for_timeout(400)  # the map pans the clicked point out from under the answer
    answer = p.page.locator(".gc-popup").bounding_box()
    assert answer is not None
    return answer


def inside(box: dict[str, Any], width: int, height: int) -> bool:
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width and box["y"] + box["height"] <= height


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def axe_violations(p: Page, server: str) -> list[dict[str, Any]]:
    """axe-core run on the page as it is, injected from node_modules under our own origin (the page's CSP
    allows 'self' scripts only; the request never reaches the server)."""
    p.page.route(f"{server}/__axe__/axe.min.js", lambda r: r.fulfill(path=str(AXE), content_type="text/javascript"))
    p.page.add_script_tag(url=f"{server}/__axe__/axe.min.js")
    result: list[dict[str, Any]] = p.page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return r.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary)}));
        }""",
        AXE_TAGS,
    )
    return result


@pytest.mark.parametrize("size", VIEWPORTS)
def test_the_click_answer_fits_the_screen(server: str, browser, size: str) -> None:
    width, height = VIEWPORTS[size]
    p = viewer(browser, f"{server}{MUSEUM}", (width, height))
    answer = click_centre(p)
    assert inside(answer, width, height), answer  # was 191 × ~1,500 px with its top at y ≈ −1,080
    text = p.page.inner_text(".gc-popup")
    # The place (Dutch decimal comma), the zones with their policy, Natura 2000 (thousands with a point), heat.
    assert "Deze plek" in text and re.search(r"52,99\d+° N, 6,56\d+° O · RD x 233\d{3}, y 556\d{3}", text), text
    assert "Binnenstad" in text and "Publiekshart" in text and "§4.4.1" in text
    assert re.search(r"Drentsche Aa-gebied \(gebied 25\): 4\.0\d\d m", text), text
    assert re.search(r"\b2,\d °C warmer dan het platteland", text), text
    # The place and the first zone are readable on screen without scrolling; the panel scrolls for the rest.
    for part in (".gc-popup h2", ".gc-where", ".gc-zones li strong"):
        box = p.page.locator(part).first.bounding_box()
        assert box is not None and inside(box, width, height) and inside_box(box, answer), (part, box, answer)
    assert p.page.inner_text(".gc-zones li strong >> nth=0") == "Binnenstad"
    # The clicked point is marked and stays visible beside (desktop) or above (phone) the answer.
    marker = p.page.evaluate(
        """() => { const r = document.querySelector('.leaflet-overlay-pane path:not(.leaflet-interactive)');
                   if (!r) { return null; } const b = r.getBoundingClientRect();
                   return {x: b.x, y: b.y, width: b.width, height: b.height}; }"""
    )
    assert marker is not None and inside(marker, width, height), marker
    assert not overlap(marker, answer), (marker, answer)
    if size == "desktop":
        assert answer["x"] < width / 3 and answer["height"] <= height  # a side panel on the left
    else:
        assert answer["width"] == width and answer["y"] + answer["height"] == pytest.approx(height, abs=1)
        assert answer["height"] <= 0.6 * height  # a bottom sheet; the map stays visible above it
    ARTIFACTS.mkdir(exist_ok=True)
    p.page.screenshot(path=str(ARTIFACTS / f"kaart-antwoord-{size}.png"))
    assert p.errors == [] and p.not_tiles() == [] and p.dialogs == []
    p.page.close()


def inside_box(box: dict[str, Any], outer: dict[str, Any]) -> bool:
    return (
        box["x"] >= outer["x"] - 0.5
        and box["y"] >= outer["y"] - 0.5
        and box["x"] + box["width"] <= outer["x"] + outer["width"] + 0.5
        and box["y"] + box["height"] <= outer["y"] + outer["height"] + 0.5
    )


@pytest.mark.parametrize("size", VIEWPORTS)
def test_keyboard_tab_enter_escape(server: str, browser, size: str) -> None:
    p = viewer(browser, f"{server}{MUSEUM}", VIEWPORTS[size])
    on_map = "document.activeElement === window.gebiedscheck.map.getContainer()"
    for _ in range(12):  # past the header's links, to the map
        p.page.keyboard.press("Tab")
        if p.page.evaluate(on_map):
            break
    else:
        pytest.fail("Tab never reached the map")
    # A visible crosshair marks the centre that Enter asks about.
    assert p.page.is_visible(".gc-richtkruis")
    cross = p.page.evaluate(
        "() => { const s = getComputedStyle(document.querySelector('.gc-richtkruis'), '::after');"
        " return [s.content, s.width, s.height]; }"
    )
    assert cross == ['""', "2px", "30px"], cross
    ring = p.page.locator(".gc-richtkruis").bounding_box()
    frame = p.page.locator(".leaflet-container").bounding_box()
    assert ring is not None and ring == frame  # the ring around the whole map
    centre = p.page.evaluate("(() => { const c = window.gebiedscheck.map.getCenter(); return [c.lat, c.lng]; })()")
    p.page.keyboard.press("Enter")
    p.page.wait_for_selector(".gc-popup h2", timeout=10000)
    assert p.page.evaluate("document.querySelector('.gc-popup').contains(document.activeElement)")
    assert not p.page.is_visible(".gc-richtkruis")  # the map no longer has the focus
    assert "Binnenstad" in p.page.inner_text(".gc-popup")
    asked = p.page.evaluate(
        "(() => { const m = window.gebiedscheck.map; let ll = null;"
        " m.eachLayer(l => { if (l instanceof L.CircleMarker && !l.options.interactive) { ll = l.getLatLng(); } });"
        " return ll && [ll.lat, ll.lng]; })()"
    )
    assert asked == pytest.approx(centre, abs=1e-6)  # the query was at the map's centre
    # The zones are text, not tab stops: the answer has at most its close button and one link.
    stops = p.page.evaluate(
        "Array.from(document.querySelectorAll('.gc-popup a[href], .gc-popup button, .gc-popup [tabindex]'))"
        ".filter(e => e.tabIndex >= 0).map(e => e.textContent)"
    )
    assert stops == ["Sluiten", "Over deze kaart"], stops
    zone_stops = "document.querySelectorAll('.gc-zones a, .gc-zones button, .gc-zones [tabindex]').length"
    assert p.page.evaluate(zone_stops) == 0
    p.page.keyboard.press("Tab")  # inside the answer: the close button
    assert p.page.evaluate("document.activeElement.className") == "gc-sluit"
    p.page.keyboard.press("Escape")
    p.page.wait_for_function("() => document.querySelectorAll('.gc-popup').length === 0")
    assert p.page.evaluate(on_map)  # focus back on the map, where it came from
    # Enter again, then the close button by keyboard.
    p.page.keyboard.press("Enter")
    p.page.wait_for_selector(".gc-popup h2", timeout=10000)
    p.page.focus(".gc-sluit")
    p.page.keyboard.press("Enter")
    p.page.wait_for_function("() => document.querySelectorAll('.gc-popup').length === 0")
    assert p.page.evaluate(on_map)
    assert p.errors == [] and p.not_tiles() == []
    p.page.close()


def test_controls_are_dutch_and_the_scale_metric(server: str, browser) -> None:
    p = viewer(browser, f"{server}{MUSEUM}", VIEWPORTS["desktop"])
    titles = p.page.evaluate(
        "Array.from(document.querySelectorAll('[title], [aria-label]'))"
        ".flatMap(e => [e.getAttribute('title'), e.getAttribute('aria-label')]).filter(t => t)"
    )
    assert not [t for t in titles if t in ENGLISH], titles
    zoom = p.page.evaluate(
        "['.leaflet-control-zoom-in', '.leaflet-control-zoom-out', '.leaflet-control-layers-toggle']"
        ".map(s => [document.querySelector(s).title, document.querySelector(s).getAttribute('aria-label')])"
    )
    assert zoom == [["Inzoomen", "Inzoomen"], ["Uitzoomen", "Uitzoomen"], ["Kaartlagen", "Kaartlagen kiezen"]]
    prefix = p.page.inner_html(".leaflet-control-attribution")
    assert "Een JavaScript-bibliotheek voor interactieve kaarten" in prefix and "A JavaScript" not in prefix
    scale = p.page.evaluate(
        "Array.from(document.querySelectorAll('.leaflet-control-scale-line')).map(e => e.textContent)"
    )
    assert len(scale) == 1 and re.fullmatch(r"\d+ (m|km)", scale[0]), scale  # metres only: no feet, no miles
    for zoom_level in (8, 12):  # kilometres further out
        p.page.evaluate(f"window.gebiedscheck.map.setZoom({zoom_level}, {{animate: false}})")
        p.page.wait_for_timeout(100)
        line = p.page.inner_text(".leaflet-control-scale-line")
        assert re.fullmatch(r"\d+ (m|km)", line), line
    ramp = p.page.evaluate("Array.from(document.querySelectorAll('.gc-ramp span')).map(e => e.textContent)")
    assert ramp and all(re.fullmatch(r"\d+,\d", r) for r in ramp), ramp  # 1,5 not 1.5
    # The popup of a feature (the map file uses them) gets a Dutch close button too.
    p.page.evaluate(
        "(() => { const m = window.gebiedscheck.map; L.popup().setLatLng(m.getCenter()).setContent('x').openOn(m); })()"
    )
    close = p.page.locator(".leaflet-popup-close-button")
    assert close.get_attribute("aria-label") == "Sluiten" and close.get_attribute("title") == "Sluiten"
    assert p.errors == []
    p.page.close()


def test_phone_legend_folds_away_and_the_page_zooms(server: str, browser) -> None:
    width, height = VIEWPORTS["phone"]
    p = viewer(browser, f"{server}{MUSEUM}", (width, height))
    viewport = p.page.get_attribute('meta[name="viewport"]', "content") or ""
    assert "user-scalable" not in viewport and "maximum-scale" not in viewport, viewport
    assert p.page.evaluate("document.querySelector('.gc-legend-details').open") is False
    assert not p.page.is_visible(".gc-legend ul")
    folded = p.page.locator(".gc-legend").bounding_box()
    assert folded is not None and folded["height"] < 50 and folded["width"] < width / 2, folded
    p.page.click(".gc-legend summary")  # its button
    assert p.page.evaluate("document.querySelector('.gc-legend-details').open") is True
    assert p.page.is_visible(".gc-legend ul") and "Binnenstad" in p.page.inner_text(".gc-legend")
    opened = p.page.locator(".gc-legend").bounding_box()
    assert opened is not None and inside(opened, width, height) and opened["height"] <= 0.6 * height + 1
    p.page.click(".gc-legend summary")
    assert p.page.evaluate("document.querySelector('.gc-legend-details').open") is False
    p.page.close()
    wide = viewer(browser, f"{server}{MUSEUM}", VIEWPORTS["desktop"])  # open on a wide screen
    assert wide.page.evaluate("document.querySelector('.gc-legend-details').open") is True
    wide.page.close()


def test_nothing_is_wider_than_a_320_px_screen(server: str, browser) -> None:
    p = viewer(browser, f"{server}{MUSEUM}", (320, 640))
    wider = """() => { const out = [document.documentElement.scrollWidth, document.body.scrollWidth];
        const items = document.querySelectorAll('.gc-kop, .gc-kop a, .gc-legend, .leaflet-control, .gc-popup');
        items.forEach(e => { const r = e.getBoundingClientRect(); if (r.width && (r.left < 0 || r.right > 320)) {
            out.push(e.className + ' ' + r.left + '..' + r.right); } });
        return out; }"""
    assert p.page.evaluate(wider) == [320, 320]
    p.page.click(".gc-legend summary")
    assert p.page.evaluate(wider) == [320, 320]
    p.page.click(".gc-legend summary")
    answer = click_centre(p)
    assert inside(answer, 320, 640) and p.page.evaluate(wider) == [320, 320]
    p.page.focus(".leaflet-control-layers-toggle")  # the layer list, opened by keyboard
    p.page.keyboard.press("Enter")
    assert p.page.get_attribute(".leaflet-control-layers-toggle", "aria-expanded") == "true"
    assert p.page.evaluate(wider) == [320, 320]
    assert p.errors == []
    p.page.close()


def test_nearby_zones_are_named(server: str, browser) -> None:
    """The answer names nearby zones ("Binnen 500 m: …") from the `nearby` list of /zones/at. Where this
    /zones/at gives none yet, one is added to its real answer, so the viewer's wording is checked either way."""
    given: list[Any] = []

    def add_nearby(route) -> None:  # type: ignore[no-untyped-def]
        response = route.fetch()
        body = response.json()
        if not body.get("nearby"):
            body["nearby"] = [
                {"layer": "trz", "layer_title": "Toeristisch Recreatieve Zone", "feature_id": "trz",
                 "name": "Toeristisch Recreatieve Zone", "distance_m": 416.0},
            ]  # fmt: skip
            body["nearby_distance_m"] = 500.0
        given.append(body)
        route.fulfill(response=response, body=json.dumps(body), content_type="application/json")

    p = viewer(browser, f"{server}{MUSEUM}", VIEWPORTS["desktop"])
    p.page.route("**/zones/at?*", add_nearby)
    click_centre(p)
    text = p.page.inner_text(".gc-nabij")
    first = given[0]["nearby"][0]
    within = f"Binnen {given[0]['nearby_distance_m']:.0f} m:"
    assert text.startswith(within) and first["name"] in text, text
    assert f"{first['distance_m']:.0f} m" in text, text
    if first["name"] == "Toeristisch Recreatieve Zone":
        assert text == "Binnen 500 m: Toeristisch Recreatieve Zone, 416 m", text
    p.page.close()


@pytest.mark.parametrize("size", VIEWPORTS)
@pytest.mark.parametrize("path", ["/kaart", MUSEUM + "#antwoord", "/over", "/toegankelijkheid"])
def test_axe_finds_no_wcag_21_aa_violation(server: str, browser, path: str, size: str) -> None:
    width, height = VIEWPORTS[size]
    if path.startswith("/kaart"):
        p = viewer(browser, f"{server}{path.split('#')[0]}", (width, height))
        if path.endswith("#antwoord"):
            click_centre(p)  # with the answer open
    else:
        p = Page(browser, f"{server}{path}", viewport=(width, height), ready="document.readyState === 'complete'")
    violations = axe_violations(p, server)
    assert violations == [], json.dumps(violations, indent=1, ensure_ascii=False)
    if path.startswith("/kaart") and not path.endswith("#antwoord"):
        ARTIFACTS.mkdir(exist_ok=True)
        p.page.screenshot(path=str(ARTIFACTS / f"kaart-{size}.png"))
    assert p.errors == []
    p.page.close()


def test_the_pages_link_to_each_other(server: str) -> None:
    kaart = httpx.get(f"{server}/kaart").text
    header = kaart[kaart.index('<header class="gc-kop">') : kaart.index("</header>")]
    for href in ("/quickscan", "/over", "/toegankelijkheid", "/docs", "/?f=html"):
        assert f'href="{href}"' in header, href
        assert httpx.get(f"{server}{href}").status_code == 200, href
    assert kaart.index('<header class="gc-kop">') < kaart.index('class="folium-map"')  # above the map
    over = httpx.get(f"{server}/over")
    assert over.status_code == 200 and over.headers["content-type"].startswith("text/html")
    html = over.text
    assert '<html lang="nl">' in html and "<h1>Over deze kaart</h1>" in html
    assert "indicatief" in html and "Binnenstad" in html and "Natura 2000-gebieden" in html  # from the store
    assert "Een plek die u aanklikt wordt niet bewaard" in html and "alleen het pad en de status" in html
    assert 'href="/toegankelijkheid"' in html and 'href="/kaart"' in html and 'href="/docs"' in html
    statement = httpx.get(f"{server}/toegankelijkheid").text
    package = json.loads((NODE_MODULES.parent / "package.json").read_text())
    assert f"axe-core {package['devDependencies']['axe-core']}" in statement
    assert "/docs" in statement and "Swagger UI" in statement and "Voldoet gedeeltelijk" in statement
    landing = httpx.get(f"{server}/?f=html").text
    for href in ("kaart", "quickscan", "over", "docs"):
        assert f"href='{href}'" in landing, href
    # The CSP of the new pages allows no inline script at all (they have none).
    assert "script-src 'self';" in over.headers["content-security-policy"]


def test_a_clicked_point_is_not_logged(qclient, caplog: pytest.LogCaptureFixture) -> None:
    """What /over promises: requests are logged with their path and status, without the coordinates."""
    with caplog.at_level(logging.INFO, logger="gebiedscheck.access"):
        r = qclient.get("/zones/at?lat=52.99261&lon=6.56362")
    assert r.status_code == 200
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "gebiedscheck.access"]
    assert any("/zones/at" in line and " 200 " in line for line in lines), lines
    assert not any("52.99261" in line or "6.56362" in line for line in lines), lines
