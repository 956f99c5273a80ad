"""CLI commands for the planners' questions: zones-at, natura2000, heat, check. Dutch output, --json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from service.cli.common import cli_session, err, fail, nl, out, print_json, table
from service.core.errors import GebiedscheckError
from service.questions.check import CheckReport
from service.questions.heat import HeatStats
from service.questions.zones import NearbyZone
from service.spatial.geo import Location

Lat = Annotated[float | None, typer.Option(help="Breedtegraad (WGS84).")]
Lon = Annotated[float | None, typer.Option(help="Lengtegraad (WGS84).")]
X = Annotated[float | None, typer.Option(help="RD x (EPSG:28992).")]
Y = Annotated[float | None, typer.Option(help="RD y (EPSG:28992).")]
Crs = Annotated[str | None, typer.Option(help="EPSG:4326 (lat/lon, standaard) of EPSG:28992 (x/y).")]
AsJson = Annotated[bool, typer.Option("--json", help="Uitvoer als JSON (voor scripts).")]
Threshold = Annotated[float | None, typer.Option("--drempel", "--threshold", help="UHI-drempel in °C (standaard 1,5).")]


def _loc(lat: float | None, lon: float | None, x: float | None, y: float | None, crs: str | None) -> Location:
    from service.spatial.geo import location

    try:
        return location(lat=lat, lon=lon, x=x, y=y, crs=crs)
    except GebiedscheckError as exc:
        fail(exc)


def _where(loc: Location) -> str:
    return f"{loc.wgs84.lat:.5f} N, {loc.wgs84.lon:.5f} O (RD {loc.rd.x:.0f}, {loc.rd.y:.0f})"


def register(app: typer.Typer) -> None:
    @app.command("zones-at")
    def zones_at(
        lat: Lat = None, lon: Lon = None, x: X = None, y: Y = None, crs: Crs = None, as_json: AsJson = False
    ) -> None:
        """In welke gebieden van de Omgevingsvisie ligt deze plek?"""
        from service.questions.zones import zones_at as q

        loc = _loc(lat, lon, x, y, crs)
        with cli_session() as (session, settings):
            answer = q(session, loc, settings=settings)
        if as_json:
            return print_json(answer)
        out.print(
            f"Plek: {_where(loc)}; "
            + {True: "binnen de gemeente Assen", False: "buiten de gemeente Assen", None: "gemeentegrens niet geladen"}[
                answer.in_municipality
            ]
        )
        if answer.zones:
            table(
                "Gebieden op deze plek (indicatief)",
                ("gebied", "laag", "Omgevingsvisie", "wat er gevraagd wordt"),
                [(z.name, z.layer, z.policy.section, z.policy.summary) for z in answer.zones],
            )
        else:
            out.print("Deze plek ligt in geen van de gebieden.")
        out.print(escape(nearby_line(answer.nearby, answer.nearby_distance_m)), highlight=False, soft_wrap=True)
        return None

    @app.command("natura2000")
    def natura2000(
        lat: Lat = None, lon: Lon = None, x: X = None, y: Y = None, crs: Crs = None, as_json: AsJson = False
    ) -> None:
        """Afstand tot het dichtstbijzijnde Natura 2000-gebied (indicatief, geen AERIUS-berekening)."""
        from service.questions.zones import natura2000_distance

        loc = _loc(lat, lon, x, y, crs)
        with cli_session() as (session, settings):
            a = natura2000_distance(session, loc, settings=settings)
        if as_json:
            return print_json(a)
        site = f" (gebied {a.nearest.site_number})" if a.nearest.site_number else ""
        where = "ligt erin" if a.inside else f"{nl(a.distance_m)} m"
        out.print(
            f"Plek: {_where(loc)}\nDichtstbijzijnde Natura 2000-gebied: {a.nearest.name}{site}: {where} "
            f"— klasse {a.band.label}.\n{a.note}"
        )
        return None

    @app.command("heat")
    def heat(
        lat: Lat = None,
        lon: Lon = None,
        x: X = None,
        y: Y = None,
        crs: Crs = None,
        layer: Annotated[str | None, typer.Option("--laag", "--layer", help="Laag van een gebied.")] = None,
        feature: Annotated[str | None, typer.Option("--gebied", "--feature", help="Id van het gebied.")] = None,
        zones: Annotated[bool, typer.Option("--gebieden", "--zones", help="Tabel van alle gebieden.")] = False,
        threshold: Threshold = None,
        as_json: AsJson = False,
    ) -> None:
        """Hitte-eiland: waarde op een plek, statistiek van een gebied, of de tabel van alle gebieden."""
        from service.questions import heat as h

        with cli_session() as (session, settings):
            try:
                if zones:
                    rows = h.heat_zones(session, threshold_c=threshold, settings=settings)
                    if as_json:
                        return print_json(rows)
                    table(
                        "Gebieden, heetste eerst (UHI, °C, indicatief)",
                        ("laag", "gebied", "gemiddeld", "max", "p90", "boven drempel"),
                        [
                            (
                                r.layer,
                                r.name,
                                nl(r.mean_c, 2),
                                nl(r.max_c, 2),
                                nl(r.p90_c, 2),
                                "–" if r.share_above is None else f"{nl(r.share_above * 100, 1)} %",
                            )
                            for r in rows
                        ],
                    )
                    return None
                if layer or feature:
                    if not (layer and feature):
                        fail("geef zowel --laag als --gebied")
                    r = h.heat_of_feature(
                        session, layer=layer or "", feature_id=feature or "", threshold_c=threshold, settings=settings
                    )
                    if as_json:
                        return print_json(r)
                    out.print(
                        f"{r.name}: gemiddeld {nl(r.mean_c, 2)} °C, max {nl(r.max_c, 2)} °C, p90 "
                        f"{nl(r.p90_c, 2)} °C; {nl((r.share_above or 0) * 100, 1)} % boven "
                        f"{nl(r.threshold_c, 1)} °C.\n{r.raster.meaning}"
                    )
                    return None
                loc = _loc(lat, lon, x, y, crs)
                a = h.heat_at(session, loc, threshold_c=threshold, settings=settings)
            except GebiedscheckError as exc:
                fail(exc)
        if as_json:
            return print_json(a)
        value = "geen gegevens" if a.value_c is None else f"{nl(a.value_c, 2)} °C"
        out.print(f"Plek: {_where(loc)}\nHitte-eilandeffect: {value}.\n{a.raster.meaning}")
        return None

    @app.command("check")
    def check(
        file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage of CSV (lat/lon- of x/y-kolommen).")],
        uit: Annotated[Path | None, typer.Option("--uit", "--out", help="Resultaat als .gpkg of .csv.")] = None,
        crs: Crs = None,
        laag: Annotated[str | None, typer.Option("--gpkg-laag", help="Laag in de GeoPackage.")] = None,
        repair: Annotated[bool, typer.Option("--herstel", "--repair", help="Ongeldige polygonen herstellen.")] = False,
        kaart: Annotated[
            Path | None, typer.Option("--map", "--kaart", help="Kaart van de quickscan als HTML (één initiatief).")
        ] = None,
        threshold: Threshold = None,
        as_json: AsJson = False,
    ) -> None:
        """Quickscan van één initiatief of van een bestand met veel initiatieven."""
        from rich.progress import Progress

        from service.formats.files import read_initiatives, write_results
        from service.questions.batch import batch_frame
        from service.questions.check import check as check_one

        try:
            items = read_initiatives(file, crs=crs, layer=laag)
        except GebiedscheckError as exc:
            fail(exc)
        with cli_session() as (session, settings):
            try:
                if len(items) == 1 and uit is None:
                    report = check_one(session, items[0], threshold_c=threshold, repair=repair, settings=settings)
                    if kaart is not None:
                        from maps.export import write_check_map
                        from service.spatial.validation import validate_polygonal

                        geom = items[0].geom
                        if report.repaired is not None:
                            geom, _ = validate_polygonal(session, geom, repair=True)
                        write_check_map(session, report, geom, kaart, settings=settings)
                        err.print(f"Kaart geschreven: {kaart}")
                    if as_json:
                        return print_json(report)
                    _print_report(report)
                    return None
                with Progress(console=err, transient=True) as progress:
                    task = progress.add_task(f"{len(items)} initiatieven controleren", total=len(items))
                    frame, used = batch_frame(
                        session,
                        items,
                        threshold_c=threshold,
                        repair=repair,
                        settings=settings,
                        progress=lambda n: progress.advance(task, n),
                    )
                session.rollback()
            except GebiedscheckError as exc:
                fail(exc)
        if uit is not None:
            try:
                write_results(frame, items, uit)
            except GebiedscheckError as exc:
                fail(exc)
            err.print(f"{len(frame)} initiatieven gecontroleerd; resultaat in {uit}")
        if as_json:
            rows = json.loads(frame.to_json(orient="records", force_ascii=False))
            return print_json({**used, "count": len(frame), "label": "indicatief", "rows": rows})
        if uit is None:
            table(
                "Quickscan (indicatief)",
                ("#", "naam", "gebieden", "Natura 2000", "UHI °C", "let op"),
                [
                    (
                        r.index + 1,
                        r.name,
                        r.zone_names.replace(";", ", ") or "–",
                        f"{r.natura2000_name} {nl(r.natura2000_distance_m)} m",
                        nl(None if r.heat_c != r.heat_c else r.heat_c, 2),
                        r.warnings.replace(";", ", "),
                    )
                    for r in frame.head(200).itertuples()
                ],
            )
        return None


def zone_label(name: str, layer_title: str) -> str:
    """'Toeristisch Recreatieve Zone (TRZ)' for the TRZ (its layer's title), 'Witterveld (Natura 2000-gebieden)'."""
    return layer_title if layer_title.lower().startswith(name.lower()) else f"{name} ({layer_title})"


def nearby_line(nearby: Sequence[NearbyZone], distance_m: float) -> str:
    """'Binnen 500 m: Toeristisch Recreatieve Zone (TRZ), 416 m; …' (the zones near, not in, the place)."""
    within = f"Binnen {nl(distance_m)} m"
    if not nearby:
        return f"{within}: geen andere gebieden."
    return f"{within}: " + "; ".join(f"{zone_label(z.name, z.layer_title)}, {nl(z.distance_m)} m" for z in nearby)


def _print_report(report: CheckReport) -> None:
    ini = report.initiative
    out.print(
        f"[bold]Quickscan: {ini.name or 'initiatief'}[/] ({ini.geometry_type}"
        + (f", {nl(ini.area_m2)} m²" if ini.area_m2 else "")
        + f") — {_where(ini.location)}"
    )
    for w in report.warnings:
        out.print(f"[yellow]Let op:[/] {w.message}")
    if report.zones:
        table(
            "Gebieden (indicatief)",
            ("gebied", "overlap", "Omgevingsvisie", "wat er gevraagd wordt"),
            [
                (
                    z.name,
                    "punt" if z.overlap_m2 is None else f"{nl(z.overlap_m2)} m² ({nl(z.overlap_pct, 1)} %)",
                    z.policy.section,
                    z.policy.summary,
                )
                for z in report.zones
            ],
        )
    else:
        out.print("In geen van de gebieden.")
    for z in report.zones:
        if z.nested_in:
            inside = " en ".join(o.name for o in z.nested_in)
            out.print(
                escape(f"{z.name} ligt geheel in {inside}: die overlap telt in beide mee."),
                highlight=False,
                soft_wrap=True,
            )
    if report.outside_zones_m2 is not None:
        out.print(
            f"Buiten alle gebieden: {nl(report.outside_zones_m2)} m² ({nl(report.outside_zones_pct, 1)} %).",
            highlight=False,
        )
    out.print(escape(nearby_line(report.nearby, report.nearby_distance_m)), highlight=False, soft_wrap=True)
    n = report.natura2000
    out.print(
        f"Natura 2000: {n.nearest.name}, "
        + ("ligt erin" if n.inside else f"{nl(n.distance_m)} m")
        + f" ({n.band.label})."
    )
    h = report.heat
    if isinstance(h, HeatStats):
        out.print(
            f"Hitte: gemiddeld {nl(h.mean_c, 2)} °C, {nl((h.share_above or 0) * 100, 1)} % boven "
            f"{nl(h.threshold_c, 1)} °C."
        )
    else:
        out.print(f"Hitte: {nl(h.value_c, 2)} °C op deze plek.")
    out.print(f"[dim]{report.disclaimer}[/]")


def register_maps(app: typer.Typer) -> None:
    maps_app = typer.Typer(help="Kaarten als bestanden.", no_args_is_help=True)
    app.add_typer(maps_app, name="maps")

    @app.command("map")
    def map_(
        out: Annotated[Path, typer.Option("--out", "--uit", help="HTML-bestand van de overzichtskaart.")],
    ) -> None:
        """Schrijf de overzichtskaart (alle lagen, hitte-eiland, legenda) als HTML met eigen bestanden."""
        from maps.export import write_map

        with cli_session() as (session, settings):
            try:
                path = write_map(session, out, settings=settings)
            except OSError as exc:  # the file could not be written; domain errors (AssetError too): cli_session
                fail(exc)
        err.print(f"Overzichtskaart geschreven: {path}")

    @maps_app.command("export")
    def export(
        directory: Annotated[Path, typer.Argument(help="Map voor de statische viewer (index.html en bestanden).")],
        api: Annotated[
            str, typer.Option(help="Adres van de API voor klikvragen, bv. https://gebiedscheck.example.nl")
        ] = "",
    ) -> None:
        """Schrijf een zelfstandige kaartviewer die elke webserver kan publiceren."""
        from maps.export import write_map

        directory.mkdir(parents=True, exist_ok=True)
        with cli_session() as (session, settings):
            try:
                path = write_map(
                    session, directory / "index.html", settings=settings, viewer=True, api=api, static_name="static"
                )
            except OSError as exc:  # the file could not be written; domain errors (AssetError too): cli_session
                fail(exc)
        err.print(f"Statische viewer geschreven: {path} (klikvragen naar {api or 'dezelfde server'})")
