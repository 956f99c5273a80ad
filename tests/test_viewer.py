"""The public viewer in real headless Chromium (Debian's), against a real server on loopback."""

from __future__ import annotations

import threading

import pytest

from maps.assets import assets_installed, external_urls
from tests.conftest import ARTIFACTS

TILE_HOSTS = ("service.pdok.nl", "tile.openstreetmap.org")

pytestmark = pytest.mark.skipif(not assets_installed(), reason="map assets not installed (make install runs npm ci)")


class Page:
    """A viewer page that records failed requests, script errors and dialogs; tiles never leave the box."""

    def __init__(  # type: ignore[no-untyped-def]
        self, browser, url: str, viewport=(1100, 800), ready: str = "window.gebiedscheck && window.gebiedscheck.ready"
    ) -> None:
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # A script or image our Content-Security-Policy refused shows up as a console error.
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.route(
            "**/*",
            lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1") else route.abort(),
        )
        self.page.goto(url)
        self.page.wait_for_function(f"() => ({ready}) === true", timeout=20000)  # a function: no eval (CSP)

    def click_at(self, lat: float, lon: float) -> str:
        self.page.evaluate(
            "([lat, lon]) => { const m = window.gebiedscheck.map; window.gebiedscheck.closeAnswer();"
            " m.setView([lat, lon], m.getZoom(), {animate: false}); }",
            [lat, lon],
        )
        x, y = self.page.evaluate(
            """([lat, lon]) => { const m = window.gebiedscheck.map; const p = m.latLngToContainerPoint([lat, lon]);
                 const r = m.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }""",
            [lat, lon],
        )
        self.page.wait_for_function("() => document.querySelectorAll('.gc-popup').length === 0")  # old answer gone
        self.page.mouse.click(x, y)
        self.page.wait_for_selector(".gc-popup h2", timeout=10000)  # the answer, not "Bezig met opvragen…"
        return self.page.inner_text(".gc-popup")

    def not_tiles(self) -> list[str]:
        return [u for u in self.failed if not any(h in u for h in TILE_HOSTS)]


def test_page_has_no_cdn(server: str) -> None:
    import httpx

    html = httpx.get(f"{server}/kaart").text
    assert external_urls(html) == []
    assert '<html lang="nl">' in html and "Kaart — Gebiedscheck Assen" in html


def test_viewer_loads_draws_and_answers_clicks(server: str, browser) -> None:
    p = Page(browser, f"{server}/kaart?lat=52.99&lon=6.56&zoom=13")
    paths = p.page.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
    assert paths >= 20  # every feature of every layer is drawn
    assert p.page.evaluate("document.querySelectorAll('img.leaflet-image-layer').length") == 1  # the heat overlay
    text = p.click_at(53.0000, 6.5690)
    assert "Havenkwartier" in text and "Natura 2000" in text and "°C" in text
    ARTIFACTS.mkdir(exist_ok=True)
    p.page.screenshot(path=str(ARTIFACTS / "kaart-havenkwartier.png"))
    text = p.click_at(52.9600, 6.4870)
    assert "Ligt in Witterveld" in text and "afstand 0 m" in text
    assert p.errors == [] and p.not_tiles() == []
    p.page.close()


def test_url_state(server: str, browser) -> None:
    p = Page(browser, f"{server}/kaart?lat=53.00000&lon=6.56900&zoom=15&layers=havenkwartier")
    assert p.page.evaluate("window.gebiedscheck.map.getZoom()") == 15
    shown = p.page.evaluate(
        "Object.keys(window.gebiedscheck.groups)"
        ".filter(s => window.gebiedscheck.map.hasLayer(window.gebiedscheck.groups[s]))"
    )
    assert shown == ["havenkwartier"]
    p.page.evaluate("window.gebiedscheck.map.setView([52.98, 6.55], 14)")
    p.page.wait_for_function("() => location.search.includes('zoom=14')")
    assert "lat=52.98000" in p.page.url and "layers=havenkwartier" in p.page.url
    p.page.close()


def test_markup_in_names_stays_text(server: str, browser) -> None:
    from service.spatial.geo import rd_to_wgs84

    # The feature '<img src=x onerror=alert(1)>' of the test layer lies at RD 238000..238300, 561000..561300.
    where = rd_to_wgs84(238150, 561150)
    p = Page(browser, f"{server}/kaart?lat={where.lat}&lon={where.lon}&zoom=15")
    text = p.click_at(where.lat, where.lon)
    assert "<img src=x onerror=alert(1)>" in text, text
    p.page.evaluate("window.gebiedscheck.closeAnswer()")  # the answer panel (no longer a Leaflet popup)
    x, y = p.page.evaluate(
        """([lat, lon]) => { const m = window.gebiedscheck.map; const q = m.latLngToContainerPoint([lat, lon]);
             const r = m.getContainer().getBoundingClientRect(); return [q.x + r.left, q.y + r.top]; }""",
        [where.lat, where.lon],
    )
    p.page.mouse.move(x + 150, y)  # off the feature (to the east: no zone there): focus went into the answer,
    # which closed the hover tooltip
    p.page.mouse.move(x, y)  # the feature's own tooltip
    p.page.wait_for_selector(".leaflet-tooltip", timeout=5000)
    assert "<img src=x onerror=alert(1)>" in p.page.inner_text(".leaflet-tooltip")
    assert p.page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert p.dialogs == [] and p.errors == []
    p.page.close()


OGC_READY = "window.gebiedscheckOgc && window.gebiedscheckOgc.ready"


def test_ogc_items_page_draws_its_features(server: str, browser) -> None:
    import httpx

    n = httpx.get(f"{server}/collections/testgebied/items?limit=50").json()["numberReturned"]
    p = Page(browser, f"{server}/collections/testgebied/items?f=html&limit=50", ready=OGC_READY)
    assert p.page.evaluate("document.querySelectorAll('#ogc-kaart .leaflet-overlay-pane path').length") == n >= 2
    assert p.page.evaluate("document.querySelectorAll('.ogc-tabel tbody tr').length") == n
    assert "<img src=x onerror=alert(1)>" in p.page.inner_text(".ogc-tabel")
    assert p.page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert p.not_tiles() == [] and p.errors == [] and p.dialogs == []
    p.page.screenshot(path=str(ARTIFACTS / "ogc-items.png"))
    p.page.close()
    one = Page(browser, f"{server}/collections/havenkwartier?f=html", ready=OGC_READY)
    zoom = one.page.evaluate("window.gebiedscheckOgc.map.getZoom()")
    assert zoom >= 13  # the extent, drawn as one dashed rectangle:
    assert one.page.evaluate("document.querySelectorAll('.leaflet-overlay-pane path').length") == 1
    one.page.close()


def test_api_docs_from_our_own_swagger_ui(server: str, browser) -> None:
    """/docs runs Swagger UI from our npm copy under our Content-Security-Policy, without any other host."""
    p = Page(browser, f"{server}/docs", ready="document.querySelectorAll('.opblock').length > 20")
    assert p.page.evaluate("document.querySelector('.info .title').textContent").startswith("Gebiedscheck Assen")
    assert p.failed == [] and p.errors == []
    p.page.close()


def test_viewer_on_a_phone(server: str, browser) -> None:
    p = Page(browser, f"{server}/kaart", viewport=(390, 844))
    assert p.page.evaluate("document.querySelector('.leaflet-container').getBoundingClientRect().width") == 390
    assert p.page.evaluate("getComputedStyle(document.querySelector('.gc-legend')).display") != "none"
    p.page.close()


def test_overview_map_file(cli_env, browser, tmp_path) -> None:
    from typer.testing import CliRunner

    from service.cli.main import app
    from service.spatial.geo import rd_to_wgs84

    out = tmp_path / "overzicht.html"
    r = CliRunner().invoke(app, ["map", "--out", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert external_urls(html) == [] and (tmp_path / "overzicht_bestanden" / "hitte-eiland.png").exists()
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    page.goto(out.as_uri())
    page.wait_for_selector("path.leaflet-interactive")
    assert page.evaluate("document.querySelectorAll('path.leaflet-interactive').length") >= 20
    assert page.is_visible(".gc-legend") and "Legenda" in page.inner_text(".gc-legend")
    # The feature popup of the standalone map (no API): name, policy and provenance, markup as text.
    where = rd_to_wgs84(238150, 561150)
    name = page.evaluate("Object.keys(window).find(k => k.startsWith('map_'))")
    x, y = page.evaluate(
        f"""([lat, lon]) => {{ const m = window[{name!r}]; m.setView([lat, lon], 15, {{animate: false}});
             const q = m.latLngToContainerPoint([lat, lon]); const r = m.getContainer().getBoundingClientRect();
             return [q.x + r.left, q.y + r.top]; }}""",
        [where.lat, where.lon],
    )
    page.mouse.click(x, y)
    page.wait_for_selector(".leaflet-popup-content")
    text = page.inner_text(".leaflet-popup-content")
    assert "<img src=x onerror=alert(1)>" in text and "indicatief" in text
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0 and errors == []
    page.close()


def test_static_export_calls_the_api(cli_env, server: str, browser, tmp_path) -> None:
    from typer.testing import CliRunner

    from service.cli.main import app

    r = CliRunner().invoke(app, ["maps", "export", str(tmp_path / "viewer"), "--api", server])
    assert r.exit_code == 0, r.output
    index = tmp_path / "viewer" / "index.html"
    assert external_urls(index.read_text()) == []
    # Published by a plain web server on another origin: the clicks go to the API (CORS).
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(index.parent))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        p = Page(browser, f"http://127.0.0.1:{httpd.server_address[1]}/index.html?lat=53.0&lon=6.569&zoom=14")
        text = p.click_at(53.0000, 6.5690)
        assert "Havenkwartier" in text and p.errors == [] and p.not_tiles() == []
        p.page.close()
    finally:
        httpd.shutdown()


def test_check_map_in_the_html_report(server: str, browser) -> None:
    import httpx

    feature = {
        "type": "Feature",
        "properties": {"name": "Glamping", "kind": "recreatie"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[6.535, 52.970], [6.545, 52.970], [6.545, 52.975], [6.535, 52.975], [6.535, 52.970]]],
        },
    }
    resp = httpx.post(f"{server}/check?f=html", json=feature, timeout=30)
    html = resp.text
    assert "<iframe class='kaart geen-print'" in html and "srcdoc=" in html and external_urls(html) == []
    assert "script-src 'self' 'sha256-" in resp.headers["content-security-policy"]
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    report_url = f"{server}/rapport-uit-post"  # the POST's answer, served with its own headers (CSP included)

    def route(r) -> None:  # type: ignore[no-untyped-def]
        if r.request.url == report_url:
            r.fulfill(status=200, headers=dict(resp.headers), body=resp.content)
        elif r.request.url.startswith(("http://127.0.0.1", "about:")):
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    page.goto(report_url)
    frame = page.frame_locator("iframe.kaart")
    frame.locator("path.leaflet-interactive").first.wait_for()
    # The initiative, the TRZ it lies in, the nearest Natura 2000 site and the shortest line to it.
    assert frame.locator("path.leaflet-interactive").count() >= 4
    # The report's map speaks Dutch like the viewer: zoom titles and a metric-only scale bar.
    assert frame.locator(".leaflet-control-zoom-in").get_attribute("title") == "Inzoomen"
    assert frame.locator(".leaflet-control-scale-line").count() == 1
    assert " ft" not in frame.locator(".leaflet-control-scale").inner_text()
    label = frame.locator(".gc-n2k-label").inner_text()
    assert label.startswith("Natura 2000: Witterveld") and label.endswith(" m")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "check-rapport.png"), full_page=True)
    assert errors == []
    page.close()


def test_cli_check_map(cli_env, tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from service.cli.main import app

    src = tmp_path / "plan.geojson"
    src.write_text(
        json.dumps(
            {
                "type": "Feature",
                "properties": {"name": "Plan"},
                "geometry": {"type": "Point", "coordinates": [6.569, 53.0]},
            }
        )
    )
    r = CliRunner().invoke(app, ["check", str(src), "--map", str(tmp_path / "plan.html")])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "plan.html").read_text()
    assert external_urls(html) == [] and "gc-n2k-label" in html and "Drentsche Aa-gebied" in html
