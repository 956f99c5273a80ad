"""The planners' questions: zones at a location, Natura 2000 distance, heat, and the quickscan."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter

from maps.static_map import plan_map_svg
from service.api.deps import RATE_LIMITED, RateLimit, SessionDep, SettingsDep, WriteSessionDep
from service.api.params import GEOJSON_BODY, AsOf, JsonBody, LocationDep, error_responses
from service.questions import batch, heat, zones, zonetable
from service.questions import check as check_mod
from service.questions.pdf import html_to_pdf
from service.questions.report import render_check_html, version_dates
from service.spatial.geo import parse_feature_collection, parse_geojson
from service.spatial.validation import validate_polygonal
from service.store.timetravel import set_as_of

router = APIRouter(tags=["questions"], responses=error_responses(400, 422))
Threshold = Annotated[
    float | None, Query(description="UHI threshold in °C (default: GEBIEDSCHECK_HEAT_THRESHOLD_C, 1.5)")
]
Crs = Annotated[str | None, Query(description="CRS of the body: EPSG:4326 (default, RFC 7946) or EPSG:28992")]
Repair = Annotated[bool, Query(description="Repair an invalid polygon with ST_MakeValid and report the area change")]


@router.get(
    "/zones/at",
    response_model=zones.ZonesAnswer,
    summary="Every zone at a location",
    description="Every layer whose current version contains the point. A point on a zone boundary counts as "
    "inside; a point in a hole is outside. ",
)
def zones_at(session: SessionDep, settings: SettingsDep, loc: LocationDep, as_of: AsOf = None) -> Response:
    set_as_of(session, as_of)
    # The hottest endpoint of the viewer: serialised once by pydantic, not validated again by FastAPI.
    answer = zones.zones_at(session, loc, settings=settings)
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get(
    "/natura2000/distance",
    response_model=zones.Natura2000Answer,
    summary="Distance to the nearest Natura 2000 area",
    description="Exact distance in metres to the nearest Natura 2000 polygon edge (0 inside), with an indicative "
    "distance band (upper edges inclusive; default 500 m, 1 km, 5 km, 25 km). Not an AERIUS calculation.",
    responses=error_responses(404),
)
def natura2000_distance(
    session: SessionDep, settings: SettingsDep, loc: LocationDep, as_of: AsOf = None
) -> zones.Natura2000Answer:
    set_as_of(session, as_of)
    return zones.natura2000_distance(session, loc, settings=settings)


@router.get(
    "/heat/at",
    response_model=heat.HeatAtAnswer,
    summary="UHI value of the cell at a location",
    responses=error_responses(404),
)
def heat_at(
    session: SessionDep, settings: SettingsDep, loc: LocationDep, threshold_c: Threshold = None, as_of: AsOf = None
) -> Any:
    set_as_of(session, as_of)
    return heat.heat_at(session, loc, threshold_c=threshold_c, settings=settings)


@router.get(
    "/heat/overlap",
    response_model=heat.HeatZoneRow,
    summary="Heat statistics of a zone",
    dependencies=[RateLimit],
    responses={**error_responses(404), **RATE_LIMITED},
)
def heat_overlap_zone(
    session: SessionDep,
    settings: SettingsDep,
    layer: Annotated[str, Query(description="Layer slug", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")],
    feature_id: Annotated[str, Query(description="Feature id within the layer", max_length=200)],
    threshold_c: Threshold = None,
    as_of: AsOf = None,
) -> Any:
    set_as_of(session, as_of)
    return heat.heat_of_feature(session, layer=layer, feature_id=feature_id, threshold_c=threshold_c, settings=settings)


@router.post(
    "/heat/overlap",
    response_model=heat.HeatStats,
    summary="Heat statistics of a polygon",
    description="Coverage-weighted: partial cells count by the fraction the polygon covers (as exactextract).",
    openapi_extra=GEOJSON_BODY,
    dependencies=[RateLimit],
    responses={**error_responses(404, 413), **RATE_LIMITED},
)
def heat_overlap_polygon(
    session: SessionDep,
    settings: SettingsDep,
    body: JsonBody,
    crs: Crs = None,
    threshold_c: Threshold = None,
    repair: Repair = False,
    as_of: AsOf = None,
) -> Any:
    set_as_of(session, as_of)
    parsed = parse_geojson(body, crs=crs, max_vertices=settings.max_vertices)
    if parsed.geom.geom_type not in ("Polygon", "MultiPolygon"):
        from service.core.errors import InvalidInput

        raise InvalidInput(f"heat overlap needs a Polygon or MultiPolygon, not a {parsed.geom.geom_type}")
    geom, _ = validate_polygonal(session, parsed.geom, repair=repair)
    return heat.heat_overlap(session, geom, threshold_c=threshold_c, settings=settings)


ZONES_PAGE_MAX = 10_000
_ZONE_ROWS: TypeAdapter[list[heat.HeatZoneRow]] = TypeAdapter(list[heat.HeatZoneRow])


async def _watch_disconnect(receive: Any, gone: threading.Event) -> None:
    """Set ``gone`` when the ASGI receive channel reports that the client went away (or fails)."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - a broken channel: nobody is left to answer
        pass
    gone.set()


@router.get(
    "/heat/zones",
    response_model=list[heat.HeatZoneRow],
    summary="Every zone, hottest first",
    description="Heat statistics of every zone of every Omgevingsvisie and Natura 2000 layer, hottest (mean) "
    "first, a page at a time (`offset`, `limit`; the `X-Total-Count` header gives the number of zones, a "
    '`Link: rel="next"` header the next page). The table is computed once per raster version, zone layer '
    "versions and threshold and then answered from memory; a client that goes away stops the computation, "
    "and what was done is kept for the next question.",
    dependencies=[RateLimit],
    responses={**error_responses(404), **RATE_LIMITED},
)
async def heat_zones(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    threshold_c: Threshold = None,
    as_of: AsOf = None,
    offset: Annotated[int, Query(ge=0, le=100_000_000, description="Zones to skip (hottest first)")] = 0,
    limit: Annotated[int, Query(ge=1, le=ZONES_PAGE_MAX, description="Zones in this page")] = 1_000,
) -> Response:
    cache = request.app.state.__dict__.setdefault("heat_zone_tables", zonetable.ZoneTableCache())
    gone = threading.Event()

    def answer() -> tuple[list[heat.HeatZoneRow], int]:
        set_as_of(session, as_of)
        return zonetable.zone_page(
            session,
            threshold_c=threshold_c,
            offset=offset,
            limit=limit,
            settings=settings,
            stop=gone.is_set,
            cache=cache,
        )

    watcher = asyncio.create_task(_watch_disconnect(request.receive, gone))
    try:
        rows, total = await run_in_threadpool(answer)
    finally:
        watcher.cancel()
    headers = {"X-Total-Count": str(total)}
    if offset + limit < total:
        headers["Link"] = f'<{request.url.include_query_params(offset=offset + limit, limit=limit)}>; rel="next"'
    return Response(_ZONE_ROWS.dump_json(rows), media_type="application/json", headers=headers)


def with_html_errors(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """The error answers of /check, documented with the Dutch HTML page a browser (or ``f=html``) gets."""
    return {code: {**r, "content": {**r.get("content", {}), "text/html": {}}} for code, r in responses.items()}


@router.post(
    "/check",
    response_model=check_mod.CheckReport,
    summary="Quickscan of an initiative (GeoJSON Feature: Point or Polygon)",
    description="Zones with overlap and what the Omgevingsvisie asks there, Natura 2000, heat and warnings. "
    "`f=html` returns the same report as a Dutch HTML page (interactive map; printable on A4), `f=pdf` as a "
    "PDF with a static map (plan, zones, the shortest line to Natura 2000, scale bar, legend). An error "
    'answer is `{"detail": ...}`, or a Dutch HTML page for `f=html` and for a browser (Accept prefers '
    "text/html).",
    openapi_extra=GEOJSON_BODY,
    dependencies=[RateLimit],
    responses={
        200: {"content": {"text/html": {}, "application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        **with_html_errors({**error_responses(400, 404, 413, 422), **RATE_LIMITED}),
    },
)
def check(
    session: SessionDep,
    settings: SettingsDep,
    body: JsonBody,
    crs: Crs = None,
    threshold_c: Threshold = None,
    repair: Repair = False,
    f: Annotated[str, Query(pattern="^(json|html|pdf)$", description="json, html or pdf")] = "json",
    as_of: AsOf = None,
) -> Any:
    set_as_of(session, as_of)
    parsed = parse_geojson(body, crs=crs, max_vertices=settings.max_vertices)
    report = check_mod.check(session, parsed, threshold_c=threshold_c, repair=repair, settings=settings)
    if f == "json":
        return report
    return report_response(session, report, parsed.geom, pdf=f == "pdf", settings=settings)


def report_response(session: Any, report: check_mod.CheckReport, geom: Any, *, pdf: bool, settings: Any) -> Response:
    """The quickscan report as a Dutch HTML page (with the interactive map) or as PDF (with the static map): the
    one rendering of `POST /check` and `POST /check/file`."""
    geom = map_geometry(session, report, geom)
    svg = plan_map_svg(session, report, geom, settings=settings)
    dates = version_dates(session, report)
    if pdf:
        html = render_check_html(report, map_svg=svg, version_dates=dates, for_pdf=True)
        name = report_filename(report.initiative.name)
        return Response(
            html_to_pdf(html),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
        )
    map_html = check_map_html(session, report, geom, settings=settings)
    return HTMLResponse(render_check_html(report, map_html=map_html, map_svg=svg, version_dates=dates))


def report_filename(name: str | None) -> str:
    """A safe file name for the PDF: ``quickscan-<name>`` in plain ASCII letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")[:60]
    return f"quickscan-{slug}" if slug else "quickscan"


def map_geometry(session: Any, report: check_mod.CheckReport, geom: Any) -> Any:
    """The initiative as it was checked: the repaired polygon when the report says it was repaired."""
    if report.repaired is not None:
        from service.spatial.validation import validate_polygonal

        geom, _ = validate_polygonal(session, geom, repair=True)
    return geom


def check_map_html(session: Any, report: check_mod.CheckReport, geom: Any, *, settings: Any) -> str | None:
    """The check map for the HTML report (None when the map assets are not installed); ``geom`` as checked."""
    from maps.assets import assets_installed
    from maps.check_map import check_map
    from maps.overview import render
    from maps.viewer import heat_overlay

    if not assets_installed():
        return None
    _, bounds, version = heat_overlay(session, settings=settings)
    m = check_map(
        session, report, geom, settings=settings, heat_url=f"/kaart/hitte-eiland.png?v={version}", heat_bounds=bounds
    )
    return render(m)


@router.post(
    "/check/batch",
    response_model=batch.BatchReport,
    summary="Quickscan of many initiatives (a FeatureCollection)",
    description="Up to GEBIEDSCHECK_BATCH_LIMIT features (default 1,000) per request; set-based SQL. "
    "For larger sets use `gebiedscheck check FILE`.",
    openapi_extra=GEOJSON_BODY,
    dependencies=[RateLimit],
    responses={**error_responses(404, 413), **RATE_LIMITED},
)
def check_batch(
    session: WriteSessionDep,
    settings: SettingsDep,
    body: JsonBody,
    crs: Crs = None,
    threshold_c: Threshold = None,
    repair: Repair = False,
    as_of: AsOf = None,
) -> Any:
    set_as_of(session, as_of)
    items = parse_feature_collection(body, crs=crs, max_vertices=settings.max_vertices, limit=settings.batch_limit)
    return batch.check_batch(session, items, threshold_c=threshold_c, repair=repair, settings=settings)
