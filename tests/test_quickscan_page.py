"""The quickscan page (/quickscan) in real headless Chromium (Debian's) against a real server on loopback: draw a
plan with the mouse (Leaflet-Geoman) or the keyboard, upload a file, the answer on the page, the report, the
come-back link and the download; axe-core (our npm copy) finds no WCAG 2.1 A/AA violation on desktop and phone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from maps.assets import NODE_MODULES, assets_installed
from service.api.routes_quickscan import GEOMAN_DIR
from tests.conftest import ARTIFACTS

AXE = NODE_MODULES / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP, PHONE = (1400, 900), (390, 844)
# Inside the Havenkwartier (layers/vector/havenkwartier.gpkg: lon 6.565-6.575, lat 52.9955-53.004)
CENTRE = (52.9996, 6.5699)
SQUARE = [(52.9990, 6.5690), (52.9990, 6.5708), (53.0002, 6.5708), (53.0002, 6.5690)]

pytestmark = [
    pytest.mark.skipif(not assets_installed(), reason="map assets not installed (make install runs npm ci)"),
    pytest.mark.skipif(not GEOMAN_DIR.is_dir(), reason="Leaflet-Geoman not installed (npm ci in maps/assets)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core not installed (npm ci in maps/assets)"),
]


class Page:
    """The quickscan page; records script errors and CSP refusals; nothing leaves the box."""

    def __init__(self, browser: Any, url: str, viewport: tuple[int, int] = DESKTOP) -> None:
        self.errors: list[str] = []
        self.context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.viewport = viewport
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if "Content Security Policy" in m.text else None)
        self.context.route(
            "**/*",
            lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1") else route.abort(),
        )
        self.page.goto(url)
        self.page.wait_for_function("() => window.quickscan && window.quickscan.ready === true", timeout=20000)

    def answers(self) -> int:
        return int(self.page.evaluate("() => window.quickscan.answers"))

    def wait_answer(self, after: int = 0) -> None:
        self.page.wait_for_function(f"() => window.quickscan.answers > {after}", timeout=30000)

    def centre(self, lat: float, lon: float, zoom: int = 16) -> None:
        self.page.evaluate(
            "([lat, lon, z]) => window.quickscan.map.setView([lat, lon], z, {animate: false})", [lat, lon, zoom]
        )

    def pixel(self, lat: float, lon: float) -> tuple[float, float]:
        xy = self.page.evaluate(
            """([lat, lon]) => { const m = window.quickscan.map; const p = m.latLngToContainerPoint([lat, lon]);
               const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""",
            [lat, lon],
        )
        return float(xy[0]), float(xy[1])

    def in_viewport(self, selector: str) -> bool:
        box = self.page.locator(selector).bounding_box()
        assert box is not None
        return -2 <= box["y"] < self.viewport[1] - 40 and box["x"] >= 0 and box["x"] + 40 < self.viewport[0]

    def axe(self, server: str) -> list[dict[str, Any]]:
        self.page.route(
            f"{server}/__axe__/axe.min.js", lambda r: r.fulfill(path=str(AXE), content_type="text/javascript")
        )
        self.page.add_script_tag(url=f"{server}/__axe__/axe.min.js")
        result: list[dict[str, Any]] = self.page.evaluate(
            """async (tags) => {
                const r = await axe.run(document, {runOnly: {type: "tag", values: tags}});
                return r.violations.map(v => ({id: v.id, impact: v.impact,
                    nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary)}));
            }""",
            AXE_TAGS,
        )
        return result

    def close(self) -> None:
        self.context.close()


def draw_square(p: Page) -> None:
    """The Geoman polygon button, four clicks on the map, and a click on the first point to close the polygon."""
    p.centre(*CENTRE)
    p.page.locator(".leaflet-pm-toolbar .leaflet-pm-icon-polygon").click()
    points = [p.pixel(lat, lon) for lat, lon in SQUARE]
    for x, y in [*points, points[0]]:
        p.page.mouse.click(x, y)
        p.page.wait_for_timeout(150)


def test_draw_a_polygon_with_the_mouse_and_see_the_answer(server: str, browser: Any) -> None:
    p = Page(browser, f"{server}/quickscan")
    try:
        draw_square(p)
        p.wait_answer()
        answer = p.page.locator("#antwoord")
        assert answer.is_visible()
        words = answer.inner_text()
        assert "Havenkwartier" in words and "Wat de Omgevingsvisie vraagt" in words
        assert "Natura 2000" in words and "Afstand tot" in words and " m (" in words
        assert p.page.evaluate("() => document.activeElement.id") == "antwoord"  # focus moved to the answer
        assert p.in_viewport("#antwoord")
        report = p.page.evaluate("() => window.quickscan.report")
        area = report["initiative"]["area_m2"]
        assert 15_000 < area < 30_000  # 0.0018° x 0.0012° at 53° N: about 121 m x 134 m
        hectares = f"{area / 10_000:.2f}".replace(".", ",")
        assert f"{hectares} ha" in words  # Dutch notation, as service/core/dutch.py writes it
        p.page.wait_for_function("() => window.quickscan.zoneLayers() > 0", timeout=10000)  # zones on the map
        assert p.page.evaluate("() => window.quickscan.naturaLine()") is True
        p.page.screenshot(path=str(ARTIFACTS / "quickscan-getekend.png"))
        assert p.errors == []
    finally:
        p.close()


def test_upload_a_geojson_file(server: str, browser: Any, tmp_path: Path) -> None:
    ring = [[lon, lat] for lat, lon in [*SQUARE, SQUARE[0]]]
    plan = {"type": "Feature", "properties": {"naam": "Loods"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    path = tmp_path / "loods.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [plan]}), encoding="utf-8")
    p = Page(browser, f"{server}/quickscan")
    try:
        p.page.locator("#bestand").set_input_files(str(path))
        p.wait_answer()
        words = p.page.locator("#antwoord").inner_text()
        assert "Loods" in words and "Havenkwartier" in words and "Uit loods.geojson (GeoJSON): 1 deel gebruikt" in words
        assert p.in_viewport("#antwoord")
        bad = tmp_path / "tekst.dxf"
        bad.write_text("0\nSECTION\n2\nENTITIES\n0\nENDSEC\n0\nEOF\n", encoding="ascii")
        p.page.locator("#bestand").set_input_files(str(bad))
        p.page.wait_for_function("() => document.getElementById('status').classList.contains('fout')")
        assert "Melding van de dienst" in p.page.locator("#status").inner_text()
        assert p.errors == []
    finally:
        p.close()


def test_report_come_back_link_and_download(server: str, browser: Any) -> None:
    p = Page(browser, f"{server}/quickscan")
    try:
        draw_square(p)
        p.wait_answer()
        drawn = p.page.evaluate("() => window.quickscan.plan().toGeoJSON(7).geometry")
        with p.context.expect_page() as popup:
            p.page.locator("#rapport-html").click()
        report = popup.value
        report.wait_for_load_state()
        assert "/check/file" in report.url
        assert "Havenkwartier" in report.content() and "Quickscan" in report.title()
        report.close()
        with p.page.expect_download() as download:
            p.page.locator("#download").click()
        saved = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert saved["type"] == "FeatureCollection" and saved["features"][0]["geometry"] == drawn
        link = p.page.locator("#terug").get_attribute("href")
        assert link and link.startswith("/quickscan#plan=")
    finally:
        p.close()
    again = Page(browser, f"{server}{link}")
    try:
        again.wait_answer()
        back = again.page.evaluate("() => window.quickscan.plan().toGeoJSON(7).geometry")
        assert back == drawn
        assert "Havenkwartier" in again.page.locator("#antwoord").inner_text()
        assert again.errors == []
    finally:
        again.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_keyboard_answer_in_view_and_axe(server: str, browser: Any, size: str) -> None:
    viewport = DESKTOP if size == "desktop" else PHONE
    p = Page(browser, f"{server}/quickscan", viewport)
    try:
        before = p.axe(server)
        assert before == [], json.dumps(before, indent=1)
        p.centre(*CENTRE)
        button = p.page.locator("[data-midden=vlak]")
        for _ in range(40):  # reach the button with Tab alone
            p.page.keyboard.press("Tab")
            if p.page.evaluate("() => document.activeElement.getAttribute('data-midden')") == "vlak":
                break
        assert button.evaluate("b => b === document.activeElement")
        p.page.keyboard.press("Enter")
        p.wait_answer()
        assert p.page.evaluate("() => document.activeElement.id") == "antwoord"
        assert p.in_viewport("#antwoord")
        assert "Havenkwartier" in p.page.locator("#antwoord").inner_text()
        p.page.screenshot(path=str(ARTIFACTS / f"quickscan-{size}.png"))
        p.page.screenshot(path=str(ARTIFACTS / f"quickscan-{size}-heel.png"), full_page=True)
        after = p.axe(server)
        assert after == [], json.dumps(after, indent=1)
        assert p.errors == []
    finally:
        p.close()
