"""The quickscan report as PDF (WeasyPrint, static SVG map), its print stylesheet, Dutch notation, and the Dutch
error pages for browsers (API clients keep their JSON)."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from service.core import dutch
from service.core.errorpage import wants_html
from service.questions.check import CheckReport
from service.questions.report import render_check_html

ARTIFACTS = Path(__file__).parent / "artifacts"
# From the binnenstad eastwards into the Havenkwartier / Stadsbedrijvenpark (as tests/test_check.py).
ACROSS = [[[6.562, 52.9975], [6.572, 52.9975], [6.572, 53.0005], [6.562, 53.0005], [6.562, 52.9975]]]
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")


def feature(coords, name: str = "Loods aan de haven", gtype: str = "Polygon") -> dict:
    return {
        "type": "Feature",
        "properties": {"name": name, "kind": "wonen"},
        "geometry": {"type": gtype, "coordinates": coords},
    }


def pdf_text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True, timeout=60)
    return " ".join(out.stdout.decode("utf-8").split())


# --- Dutch notation (service.core.dutch) ------------------------------------------------------------------------------


def test_dutch_numbers() -> None:
    assert dutch.getal(3596.4) == "3.596" and dutch.getal(1234567.891, 2) == "1.234.567,89"
    assert dutch.getal(-0.04, 1) == "0,0" and dutch.getal(-12.5, 1) == "-12,5"
    assert dutch.procent(56.61) == "56,6 %" and dutch.procent(100.0) == "100 %" and dutch.procent(12.5) == "12,5 %"
    assert dutch.procent(0.04) == "0 %" and dutch.procent(99.96) == "100 %"
    assert dutch.meters(3596.4) == "3.596 m" and dutch.meters(0) == "0 m" and dutch.meters(12.345, 1) == "12,3 m"
    assert dutch.oppervlakte(8765.4) == "8.765 m²" and dutch.oppervlakte(34567) == "3,46 ha (34.567 m²)"
    assert dutch.graden(1.234) == "1,23 °C"
    for missing in (None, math.nan, math.inf):
        assert dutch.getal(missing) == dutch.procent(missing) == dutch.meters(missing) == "–"
    assert dutch.in_tekst("Het initiatief ligt deels in Havenkwartier (56.61%); en 100% in X.") == (
        "Het initiatief ligt deels in Havenkwartier (56,6 %); en 100 % in X."
    )
    assert dutch.in_tekst("al Nederlands: 56,6 % en 3.596 m") == "al Nederlands: 56,6 % en 3.596 m"


def test_dutch_times_are_amsterdam_time() -> None:
    winter = datetime(2026, 2, 26, 13, 5, tzinfo=UTC)  # CET = UTC+1
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # CEST = UTC+2: the next day in Assen
    assert dutch.tijd(winter) == "26-02-2026 14:05" and dutch.tijd(summer) == "02-07-2026 00:30"
    assert dutch.tijd(datetime(2026, 2, 26, 13, 5)) == "26-02-2026 14:05"  # naive: UTC
    assert dutch.datum(summer) == "2 juli 2026" and dutch.datum(winter.date()) == "26 februari 2026"
    assert dutch.tijd(None) == dutch.datum(None) == "–"


# --- The reports -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def across(qclient) -> dict:
    r = qclient.post("/check", json=feature(ACROSS))
    assert r.status_code == 200, r.text
    return r.json()


def test_html_report_uses_dutch_notation(qclient, qengine, across: dict) -> None:
    r = qclient.post("/check?f=html", json=feature(ACROSS))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # The Folium map in the iframe (maps/check_map.py) is not the report's text: its popups are checked there.
    html = re.sub(r'srcdoc="[^"]*"', 'srcdoc=""', r.text)
    for zone in across["zones"]:
        pct = zone["overlap_pct"]
        assert 0 < pct < 100 and dutch.procent(pct) in html, zone  # e.g. "56,6 %"
        assert f"{pct:g}%" not in html and f"{pct}%" not in html  # not "56.61%" (the warnings are rewritten)
    assert not re.search(r"\d\.\d+ ?%", html)
    assert dutch.meters(across["natura2000"]["distance_m"]) in html  # "3.596 m"
    if across.get("outside_zones_pct") is not None:  # the other half of issue 12 (nearby, outside_zones_*)
        assert f"Buiten alle gebieden: {dutch.procent(across['outside_zones_pct'])} van het plan" in html
    for near in across.get("nearby", []):
        assert dutch.meters(near["distance_m"]) in html
    assert re.search(r"Gemaakt op \d\d-\d\d-\d{4} \d\d:\d\d \(Nederlandse tijd\)", html)
    # The layer versions' dates as stored (not "today": a run across midnight in Assen made them a day apart).
    with qengine.connect() as conn:
        created = conn.execute(
            text(
                "SELECT v.created_at FROM layers l JOIN layer_versions v ON v.id = l.current_version_id "
                "WHERE l.slug = :s"
            ),
            {"s": across["zones"][0]["layer"]},
        ).scalar_one()
    assert dutch.datum(created) in html
    # The print stylesheet (A4, no interactive map) and the static map that a printer gets instead of the iframe.
    assert "@media print" in html and "size:A4" in html and "iframe.kaart{display:none" not in html
    assert re.search(r"@media print\{.*\.geen-print,iframe\.kaart[^}]*display:none", html, re.S)
    assert "<svg class='statische-kaart'" in html and "alleen-print" in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")


@needs_poppler
def test_pdf_report(qclient, across: dict, tmp_path: Path) -> None:
    r = qclient.post("/check?f=pdf", json=feature(ACROSS))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    assert r.headers["content-disposition"] == 'inline; filename="quickscan-loods-aan-de-haven.pdf"'
    assert "content-security-policy" not in r.headers  # not an HTML page
    pdf = tmp_path / "quickscan.pdf"
    pdf.write_bytes(r.content)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "quickscan.pdf").write_bytes(r.content)
    words = pdf_text(pdf)  # real text, not an image of text
    assert "Quickscan: Loods aan de haven" in words and "indicatief" in words
    assert "Havenkwartier" in words and "Binnenstad" in words
    distance = dutch.meters(across["natura2000"]["distance_m"])
    assert re.search(r"\d\.\d{3} m", distance) and distance in words  # e.g. "3.596 m"
    assert f"{across['natura2000']['nearest']['name']} — {distance}" in words  # the line's label on the map
    for zone in across["zones"]:
        assert dutch.procent(zone["overlap_pct"]) in words
    assert "Legenda" in words and "pagina 1 van" in words
    assert not re.search(r"\d\.\d+ ?%", words)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    assert re.search(r"^Tagged:\s+yes$", info, re.M)  # PDF/UA-1: structure for screen readers
    assert re.search(r"^Title:\s+\S", info, re.M)


@needs_poppler
def test_pdf_holds_the_map(qclient, tmp_path: Path) -> None:
    """The map is a vector drawing (no embedded image): rendered, its Havenkwartier fill shows in the page."""
    import numpy as np
    from PIL import Image

    r = qclient.post("/check?f=pdf", json=feature(ACROSS))
    pdf = tmp_path / "q.pdf"
    pdf.write_bytes(r.content)
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True, timeout=60)
    assert len(images.stdout.strip().splitlines()) == 2  # only the header lines: no raster image, not a screenshot
    subprocess.run(["pdftoppm", "-png", "-r", "72", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert pages
    # The zone fill: Havenkwartier red at 35 % over white, or over the Stadsbedrijvenpark it lies in: red pixels
    # (no other colour of the map is red: zones in blue and lilac, Natura 2000 green, the plan black).
    found = {}
    for page in pages:
        rgb = np.asarray(Image.open(page).convert("RGB"), dtype=np.int16)
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        found[page.name] = int(((r > 180) & (r - g > 40) & (r - b > 40)).sum())
        if ARTIFACTS.exists():
            shutil.copy(page, ARTIFACTS / f"quickscan-{page.name}")
    assert max(found.values()) > 1_500, found  # an area of the map, not only the legend's swatch (about 200 px)


@needs_poppler
def test_pdf_of_a_point_in_natura2000(qclient, tmp_path: Path) -> None:
    r = qclient.post("/check?f=pdf", json=feature([6.4870, 52.9600], name="Paal", gtype="Point"))
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    pdf = tmp_path / "punt.pdf"
    pdf.write_bytes(r.content)
    words = pdf_text(pdf)
    assert "Geometrie punt" in words and "Witterveld" in words and "ligt erin" in words and "punt ligt erin" in words


def test_static_map_drawing() -> None:
    """The SVG itself: names escaped, a 1-2-5 scale bar in Dutch, the plan, the zones and the labelled line."""
    from shapely.geometry import LineString, box

    from maps.static_map import Area, MapData, _nice_length, draw_svg

    plan = box(234_000, 557_000, 234_400, 557_300)
    zone = box(233_800, 556_900, 234_200, 557_600)
    data = MapData(
        plan=plan,
        extent=(233_000, 556_500, 236_000, 558_441),  # 3 km wide: a 500 m scale bar
        areas=[Area(label="Zone <b>&amp;</b>", colour="#e31a1c", geom=zone)],
        line=LineString([(234_400, 557_150), (235_500, 557_150)]),
        line_label="Natura 2000: <Veld> — 1.100 m",
    )
    svg = draw_svg(data)
    assert svg.startswith("<svg class='statische-kaart'") and "<b>" not in svg and "<Veld>" not in svg
    assert "Zone &lt;b&gt;&amp;amp;&lt;/b&gt;" in svg and "Natura 2000: &lt;Veld&gt; — 1.100 m" in svg
    assert ">500 m</text>" in svg and ">N</text>" in svg and "Legenda" in svg and "fill='#e31a1c'" in svg
    assert "http" not in svg and "href" not in svg  # nothing to fetch
    assert [_nice_length(m) for m in (0.9, 7, 180, 2_400, 9_999)] == [0.5, 5, 100, 2_000, 5_000]


def test_pdf_fetches_nothing_but_data_uris() -> None:
    from service.questions.pdf import html_to_pdf

    pixel = (
        "data:image/png;base64,"
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    )
    html = (
        "<link rel='stylesheet' href='file:///etc/passwd'><p>tekst</p><img src='http://127.0.0.1:9/x.png'>"
        f"<img src='{pixel}'><img src='/kaart/hitte-eiland.png'>"
    )
    refused: list[str] = []
    assert html_to_pdf(html, refused=refused).startswith(b"%PDF-")
    assert "file:///etc/passwd" in refused and "http://127.0.0.1:9/x.png" in refused
    assert not any(u.startswith("data:") for u in refused)


def test_report_shows_nearby_and_outside_when_present(across: dict) -> None:
    """The fields another change adds to /check (nearby, outside_zones_*, nested_in) are shown once present."""
    from pydantic import BaseModel

    class Nearby(BaseModel):
        layer: str
        layer_title: str
        feature_id: str
        name: str
        distance_m: float
        policy: dict | None

    class Later(CheckReport):
        nearby: list[Nearby] = []
        outside_zones_m2: float | None = None
        outside_zones_pct: float | None = None

    near = Nearby(
        layer="publiekshart",
        layer_title="Publiekshart",
        feature_id="p",
        name="Publiekshart <centrum>",
        distance_m=1234.6,
        policy={"section": "§4.2", "summary": "Levendig hart."},
    )
    fields = {k: v for k, v in across.items() if k not in ("nearby", "outside_zones_m2", "outside_zones_pct")}
    later = Later(**fields, nearby=[near], outside_zones_pct=12.5, outside_zones_m2=12_345.0)
    html = render_check_html(later)
    assert "In de buurt (binnen 500 m)" in html and "Publiekshart &lt;centrum&gt;" in html and "1.235 m" in html
    assert "Buiten alle gebieden: 12,5 % van het plan — 1,23 ha (12.345 m²)." in html
    # A report as it was before those fields: the same report without them renders, without those sections.
    report = CheckReport.model_validate(across)
    old = {
        k: getattr(report, k)
        for k in type(report).model_fields
        if k not in ("nearby", "outside_zones_m2", "outside_zones_pct", "nearby_distance_m")
    }
    old["zones"] = [
        SimpleNamespace(**{k: getattr(z, k) for k in type(z).model_fields if k != "nested_in"}) for z in report.zones
    ]
    before = render_check_html(SimpleNamespace(**old))  # type: ignore[arg-type]
    assert "In de buurt" not in before and "Buiten alle gebieden" not in before and "Havenkwartier" in before


# --- Error pages -------------------------------------------------------------------------------------------------


def test_who_gets_html() -> None:
    assert wants_html(BROWSER, None) and wants_html("text/html", None) and wants_html(None, "html")
    for api in (
        None,
        "",
        "*/*",
        "application/json",
        "application/json, text/html;q=0.5",
        "text/html, application/json",
    ):
        assert not wants_html(api, None), api
    assert not wants_html(BROWSER.replace("text/html", "text/html;q=0"), None)
    assert wants_html("text/*, application/json;q=0.5", None) and not wants_html("text/html;q=bad", None)


def test_browser_404_is_a_dutch_page_api_404_stays_json(qclient) -> None:
    page = qclient.get("/bestaat-niet", headers={"Accept": BROWSER})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="nl">' in page.text and "Niet gevonden" in page.text and "Deze pagina bestaat niet." in page.text
    assert 'href="/kaart"' in page.text and "content-security-policy" in page.headers
    for accept in (None, "*/*", "application/json"):
        api = qclient.get("/bestaat-niet", headers={"Accept": accept} if accept else {})
        assert api.status_code == 404 and api.headers["content-type"] == "application/json"
        assert api.json() == {"detail": "Not Found"}
    layer = qclient.get("/layers/bestaat-niet", headers={"Accept": BROWSER})
    assert layer.status_code == 404 and "De laag ‘bestaat-niet’ bestaat niet." in layer.text
    assert qclient.get("/layers/bestaat-niet").json() == {"detail": "layer 'bestaat-niet' does not exist"}
    wrong = qclient.delete("/health", headers={"Accept": BROWSER})
    assert wrong.status_code == 405 and "Methode niet toegestaan" in wrong.text and "allow" in wrong.headers


def test_error_pages_escape_what_they_echo(qclient) -> None:
    r = qclient.get("/heat/overlap?layer=<script>alert(1)</script>&feature_id=x", headers={"Accept": BROWSER})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "<script>" not in r.text and "Ongeldige invoer" in r.text and "in het Engels" in r.text


def test_check_errors_for_browsers_and_api_clients(qclient) -> None:
    html = qclient.post("/check?f=html", content=b"{not json", headers={"Content-Type": "application/json"})
    assert html.status_code == 422 and html.headers["content-type"].startswith("text/html")
    assert "De inhoud van het verzoek is geen geldige JSON." in html.text and "not valid JSON" in html.text
    for body in (b"{not json", b'{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[1, 2]]]}}'):
        pdf = qclient.post("/check?f=pdf", content=body, headers={"Content-Type": "application/json"})
        assert pdf.status_code == 422 and pdf.headers["content-type"] == "application/json"
        assert isinstance(pdf.json()["detail"], str) and pdf.json()["detail"]
    bad_f = qclient.post("/check?f=xml", json=feature(ACROSS))
    assert bad_f.status_code == 422 and bad_f.json()["detail"].startswith("f: ")
