"""WCAG 2.1 AA on the other pages we serve (issue 12): the HTML report of POST /check?f=html, the OGC API HTML
pages and the Dutch error page. axe-core (our npm copy, injected by Playwright into every frame, the report's map
frame too) finds no violation in Debian's Chromium at desktop and phone size, and at 320 px nothing scrolls
sideways (tables reflow, WCAG 1.4.10).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from maps.assets import NODE_MODULES, assets_installed
from tests.test_report_pdf import ACROSS, feature

AXE = NODE_MODULES / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VIEWPORTS = {"desktop": (1400, 900), "phone": (390, 844), "320px": (320, 640)}
OGC_PAGES = [
    "/?f=html",
    "/conformance?f=html",
    "/collections?f=html",
    "/collections/havenkwartier?f=html",
    "/collections/wijkwinkelcentra/items?f=html&limit=3",
    "ITEM",
]
PAGES = ["REPORT", *OGC_PAGES, "/bestaat-niet"]

pytestmark = [
    pytest.mark.skipif(not assets_installed(), reason="map assets not installed (make install runs npm ci)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core not installed (make install runs npm ci in maps/assets)"),
]


@pytest.fixture(scope="module")
def report(server: str) -> httpx.Response:
    """The HTML report of a plan across zones (with nearby zones, a warning and the map)."""
    r = httpx.post(f"{server}/check?f=html", json=feature(ACROSS), timeout=60)
    assert r.status_code == 200 and "<iframe" in r.text
    return r


def open_page(browser, server: str, path: str, report: httpx.Response, viewport: tuple[int, int]):  # type: ignore[no-untyped-def]
    """The page, with axe-core in every frame; tiles and anything else off the loopback are refused."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(path=str(AXE))
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("http://127.0.0.1") else r.abort())
    if path == "REPORT":
        # A POST: the answer as the server gave it (body and headers, its CSP too), at its own address.
        headers = {k: v for k, v in report.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        page.route(f"{server}/check-rapport", lambda r: r.fulfill(status=200, headers=headers, body=report.text))
        path = "/check-rapport"
    elif path == "ITEM":
        items = httpx.get(f"{server}/collections/wijkwinkelcentra/items?limit=1").json()
        path = f"/collections/wijkwinkelcentra/items/{items['features'][0]['id']}?f=html"
    response = page.goto(f"{server}{path}")
    assert response is not None
    page.wait_for_load_state("load")
    if page.locator("#ogc-kaart").count():
        page.wait_for_function("() => window.gebiedscheckOgc && window.gebiedscheckOgc.ready === true")
    return page, response.status, errors


def axe_violations(page) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    result: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return r.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary)}));
        }""",
        AXE_TAGS,
    )
    return result


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_no_wcag_21_aa_violation(server: str, browser, report, path: str, size: str) -> None:
    page, status, errors = open_page(browser, server, path, report, VIEWPORTS[size])
    assert status == (404 if path == "/bestaat-niet" else 200)
    assert page.evaluate("document.documentElement.lang") == "nl"
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, indent=1, ensure_ascii=False)
    assert errors == []
    page.close()


@pytest.mark.parametrize("path", PAGES)
def test_pages_reflow_at_320_px(server: str, browser, report, path: str) -> None:
    """WCAG 1.4.10: at 320 CSS pixels the page does not scroll sideways; tables become one column of cells."""
    page, _, _ = open_page(browser, server, path, report, VIEWPORTS["320px"])
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] == 320, widths
    # Nothing sticks out of the viewport unless a box that clips it holds it (the map's tiles, a hidden header row)
    overflowing = page.evaluate(
        """() => {
            const clipped = e => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
                if (getComputedStyle(p).overflowX !== 'visible') { return true; } } return false; };
            return [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > 321 && !clipped(e))
                .map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 40)).slice(0, 5);
        }"""
    )
    assert overflowing == [], overflowing
    page.close()


def test_the_error_page_and_the_report_say_what_they_are(server: str, report) -> None:
    """Each page has one h1 and a title naming it; the report's map frame has a title; the error page links on."""
    html = report.text
    assert html.count("<h1") == 1 and "<title>Quickscan: Loods aan de haven" in html
    assert "<iframe class='kaart geen-print' title=" in html
    error = httpx.get(f"{server}/bestaat-niet", headers={"Accept": "text/html"})
    assert error.status_code == 404 and '<html lang="nl">' in error.text and error.text.count("<h1") == 1
    assert 'href="/kaart"' in error.text
