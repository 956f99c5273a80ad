"""The quickscan in the browser: the page /quickscan (draw or upload a plan, see the answer) and
``POST /check/file`` (a plan as a file: GeoJSON, GeoPackage, zipped Shapefile or DXF)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from maps.assets import NODE_MODULES, assets_installed
from maps.overview import basemaps
from service.api.deps import RATE_LIMITED, RateLimit, SessionDep, SettingsDep
from service.api.params import AsOf, error_responses
from service.api.routes_questions import report_response, with_html_errors
from service.api.uploads import read_form
from service.core.errors import ConfigurationError, InvalidInput
from service.core.templates import render
from service.formats.safeopen import SUFFIXES
from service.questions import check as check_mod
from service.questions import planfile
from service.store.timetravel import set_as_of

router = APIRouter(tags=["questions"])
GEOMAN_DIR = NODE_MODULES / "@geoman-io" / "leaflet-geoman-free" / "dist"
FILE_SUFFIXES = sorted(s for s, k in SUFFIXES.items() if k in planfile.FILE_KINDS)
FIELDS = {"crs": 100, "layer": 200, "repair": 5}


def mount_static(app: FastAPI) -> None:
    """/static/vendor/geoman: Leaflet-Geoman (npm, installed by make install), the page's drawing tools."""
    if GEOMAN_DIR.is_dir():
        app.mount("/static/vendor/geoman", StaticFiles(directory=GEOMAN_DIR), name="vendor-geoman")


def _form_schema() -> dict[str, Any]:
    text = {"type": "string"}
    properties = {
        "file": {"type": "string", "contentMediaType": "application/octet-stream", "title": "File"},
        "crs": {**text, "maxLength": 100, "description": "EPSG code of a file that states none (DXF: RD default)"},
        "layer": {**text, "maxLength": 200, "description": "The layer of a GeoPackage with several"},
        "repair": {"type": "boolean", "description": "Repair invalid parts before they are joined"},
    }
    schema = {"title": "PlanFileForm", "type": "object", "properties": properties, "required": ["file"]}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


@router.post(
    "/check/file",
    response_model=planfile.FileCheckReport,
    summary="Quickscan of a plan in a file (GeoJSON, GeoPackage, zipped Shapefile, DXF)",
    description="The same answer as `POST /check`, for a plan uploaded as a file (multipart part `file`; "
    f"suffixes {', '.join(FILE_SUFFIXES)}), with `plan_file` (how it was read: parts used, points ignored, CRS) "
    "and `plan` (the plan as WGS84 GeoJSON). Polygons and the closed shapes of a drawing's lines together form "
    "one plan (their union); a file without polygons may hold one point. A file without CRS needs `crs` "
    "(an EPSG code); a DXF without one is read as RD New (EPSG:28992). At most GEBIEDSCHECK_BATCH_LIMIT "
    "features and GEBIEDSCHECK_MAX_VERTICES vertices. Nothing is stored. `f=html` and `f=pdf` give the report.",
    openapi_extra=_form_schema(),
    dependencies=[RateLimit],
    responses={
        200: {"content": {"text/html": {}, "application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        **with_html_errors({**error_responses(400, 408, 413, 422), **RATE_LIMITED}),
    },
)
async def check_file(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    f: Annotated[str, Query(pattern="^(json|html|pdf)$", description="json, html or pdf")] = "json",
    as_of: AsOf = None,
) -> Any:
    tmp = Path(tempfile.mkdtemp(prefix="gebiedscheck-quickscan-"))
    try:
        fields, path, name = await _read_form(request, tmp, settings.max_body_bytes)

        def work() -> Any:
            set_as_of(session, as_of)
            plan = planfile.read_plan(
                path,
                source_name=name,
                crs=fields.get("crs"),
                layer=fields.get("layer"),
                repair=fields.get("repair") == "true",
                settings=settings,
            )
            report = check_mod.check(session, plan.parsed, repair=fields.get("repair") == "true", settings=settings)
            if f == "json":
                answer = planfile.FileCheckReport(
                    **dict(report), plan_file=plan.info, plan=planfile.plan_feature(plan.parsed)
                )
                return Response(answer.model_dump_json(), media_type="application/json")
            return report_response(session, report, plan.parsed.geom, pdf=f == "pdf", settings=settings)

        return await run_in_threadpool(work)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _read_form(request: Request, tmp: Path, limit: int) -> tuple[dict[str, str], Path, str]:
    """The text fields and the uploaded file (copied under ``tmp``, under a name of ours), or 413/422."""
    raw, path, name = await read_form(
        request,
        tmp,
        limit,
        max_fields=10,
        what="plan",
        suffixes=FILE_SUFFIXES,
        formats=f"{', '.join(FILE_SUFFIXES)} (GeoJSON, GeoPackage, a zipped Shapefile or a DXF drawing)",
    )
    fields: dict[str, str] = {}
    for key, value in raw:
        if key not in FIELDS:
            raise InvalidInput(f"{key[:40]}: unknown field; the form takes file, {', '.join(FIELDS)}")
        if len(value) > FIELDS[key]:
            raise InvalidInput(f"{key}: longer than {FIELDS[key]} characters")
        if value.strip():
            fields[key] = value.strip()
    if fields.get("repair", "false").lower() not in ("true", "false", "1", "0"):
        raise InvalidInput("repair: must be true or false")
    fields["repair"] = "true" if fields.get("repair", "false").lower() in ("true", "1") else "false"
    return fields, path, name


@router.get("/quickscan", response_class=HTMLResponse, tags=["maps"], summary="The quickscan in the browser (Dutch)")
def quickscan_page(settings: SettingsDep) -> HTMLResponse:
    """Draw or upload a plan and see what the Omgevingsvisie says about it, with the report as HTML and PDF."""
    if not (assets_installed() and GEOMAN_DIR.is_dir()):
        raise ConfigurationError("the map assets are not installed (run `make install`, which runs npm ci)")
    name, url, attribution = basemaps(settings)[0]
    html = render(
        "quickscan.html",
        tile_url=url,
        tile_attribution=attribution,
        tile_name=name,
        accept=",".join(FILE_SUFFIXES),
        max_mb=f"{settings.max_body_bytes / 1_000_000:g}".replace(".", ","),
        batch_limit=settings.batch_limit,
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})
