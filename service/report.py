"""The quickscan as a readable Dutch HTML page (no scripts, no external assets)."""

from __future__ import annotations

from html import escape

from service.check import CheckReport
from service.heat import HeatAtAnswer

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.5}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e5e5e5;
vertical-align:top}.waarschuwing{background:#fff4e5;border-left:4px solid #e67e00;padding:.5rem .75rem;margin:.5rem 0}
.indicatief{display:inline-block;background:#fde68a;padding:0 .4rem;border-radius:.25rem;font-size:.85rem}
iframe.kaart{width:100%;height:28rem;border:1px solid #ccc}
.disclaimer{font-size:.9rem;color:#444;border-top:1px solid #ccc;margin-top:2rem;padding-top:.5rem}
"""


def _n(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}".replace(",", " ").replace(".", ",")
    return f"{text} {unit}".strip()


def render_check_html(report: CheckReport, *, map_html: str | None = None) -> str:
    ini = report.initiative
    title = escape(ini.name or "Initiatief")
    parts = [
        "<!doctype html><html lang='nl'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Quickscan: {title} — Gebiedscheck Assen</title><style>{CSS}</style></head><body><main>",
        f"<h1>Quickscan: {title}</h1>",
        "<p><span class='indicatief'>indicatief</span> Gebaseerd op indicatieve kaartlagen.</p>",
        "<table><tbody>",
        f"<tr><th scope='row'>Soort</th><td>{escape(ini.kind or '–')}</td></tr>",
        f"<tr><th scope='row'>Geometrie</th><td>{escape(ini.geometry_type)}"
        + (f", {_n(ini.area_m2, 0, 'm²')}" if ini.area_m2 is not None else "")
        + "</td></tr>",
        f"<tr><th scope='row'>Ligging</th><td>{_n(ini.location.wgs84.lat, 5)} N, {_n(ini.location.wgs84.lon, 5)} O "
        f"(RD {ini.location.rd.x:.0f}, {ini.location.rd.y:.0f})</td></tr>",
        "<tr><th scope='row'>Gemeente Assen</th><td>"
        + {True: "binnen de gemeente", False: "(deels) buiten de gemeente", None: "onbekend"}[report.in_municipality]
        + "</td></tr></tbody></table>",
    ]
    if report.warnings:
        parts.append("<h2>Let op</h2>")
        parts += [f"<p class='waarschuwing' role='note'>{escape(w.message)}</p>" for w in report.warnings]
    parts.append("<h2>Gebieden uit de Omgevingsvisie</h2>")
    if report.zones:
        parts.append(
            "<table><thead><tr><th scope='col'>Gebied</th><th scope='col'>Overlap</th>"
            "<th scope='col'>Wat de Omgevingsvisie hier vraagt</th></tr></thead><tbody>"
        )
        for z in report.zones:
            overlap = (
                "punt ligt erin" if z.overlap_m2 is None else f"{_n(z.overlap_m2, 0, 'm²')} ({_n(z.overlap_pct, 1)}%)"
            )
            section = escape(z.policy.section or "")
            parts.append(
                f"<tr><td><strong>{escape(z.name)}</strong><br><small>{escape(z.layer_title)} · versie "
                f"{z.source.version} · {escape(z.source.label)}</small></td><td>{overlap}</td>"
                f"<td>{escape(z.policy.summary or '–')}<br><small>Omgevingsvisie {section}</small></td></tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>Het initiatief ligt in geen van de gebieden van de Omgevingsvisie die wij kennen.</p>")
    n = report.natura2000
    where = "ligt erin" if n.inside else f"op {_n(n.distance_m, 0, 'm')}"
    site = f" (gebied {n.nearest.site_number})" if n.nearest.site_number else ""
    parts += [
        "<h2>Natura 2000</h2>",
        f"<p>Dichtstbijzijnde gebied: <strong>{escape(n.nearest.name)}</strong>{site}, {where}; "
        f"afstandsklasse: {escape(n.band.label)}.</p>",
        f"<p><small>{escape(n.note)}</small></p>",
        "<h2>Hitte (stedelijk hitte-eiland)</h2>",
    ]
    h = report.heat
    if isinstance(h, HeatAtAnswer):
        parts.append(
            f"<p>Hitte-eilandeffect op deze plek: <strong>{_n(h.value_c, 2, '°C')}</strong> "
            f"(drempel {_n(h.threshold_c, 1, '°C')}).</p>"
        )
    else:
        parts.append(
            f"<p>Gemiddeld <strong>{_n(h.mean_c, 2, '°C')}</strong>, maximaal {_n(h.max_c, 2, '°C')}, "
            f"90e percentiel {_n(h.p90_c, 2, '°C')}. Boven de drempel van {_n(h.threshold_c, 1, '°C')}: "
            f"{_n(h.area_above_m2, 0, 'm²')} ({_n((h.share_above or 0) * 100, 1)}%).</p>"
        )
    parts.append(
        f"<p><small>{escape(h.raster.meaning)} Bron: {escape(h.raster.provenance)}, versie "
        f"{h.raster.version}.</small></p>"
    )
    if map_html:
        parts.append(
            "<h2>Kaart</h2><iframe class='kaart' title='Kaart van het initiatief, de gebieden en Natura 2000' "
            f'srcdoc="{escape(map_html, quote=True)}"></iframe>'
        )
    if report.repaired:
        r = report.repaired
        parts.append(
            f"<h2>Geometrie hersteld</h2><p>{escape(r.reason)}; oppervlakte {_n(r.area_before_m2, 0, 'm²')} → "
            f"{_n(r.area_after_m2, 0, 'm²')}.</p>"
        )
    parts.append(
        f"<p class='disclaimer'>{escape(report.disclaimer)} Gemaakt op "
        f"{report.generated_at:%d-%m-%Y %H:%M} UTC door Gebiedscheck Assen.</p></main></body></html>"
    )
    return "\n".join(parts)
