"""The quickscan in the browser: the page /quickscan (draw or upload a plan, see the answer) and
``POST /check/file`` (a plan as a file: GeoJSON, GeoPackage, zipped Shapefile or DXF)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from maps.assets import NODE_MODULES, assets_installed
from maps.overview import basemaps
from service import check as check_mod
from service import planfile
from service.api.deps import RATE_LIMITED, RateLimit, SessionDep, SettingsDep
from service.api.middleware import BodyRefused
from service.api.params import AsOf, error_responses
from service.api.routes_questions import check_map_html, map_geometry, report_filename, with_html_errors
from service.errors import ConfigurationError, InvalidInput, TooLarge
from service.safeopen import SUFFIXES
from service.templates import render
from service.timetravel import set_as_of

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
            return _report(session, report, plan.parsed.geom, settings=settings, pdf=f == "pdf")

        return await run_in_threadpool(work)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _report(session: Any, report: Any, geom: Any, *, settings: Any, pdf: bool) -> Response:
    from maps.static_map import plan_map_svg
    from service.pdf import html_to_pdf
    from service.report import render_check_html, version_dates

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


async def _read_form(request: Request, tmp: Path, limit: int) -> tuple[dict[str, str], Path, str]:
    """The text fields and the uploaded file (copied under ``tmp``, under a name of ours), or 413/422."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidInput("send the plan as multipart/form-data, the file in a part named 'file'")
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    except BodyRefused:
        raise
    except HTTPException as exc:  # the multipart parser's complaint (Starlette answers it with a 400)
        raise InvalidInput(f"the multipart body is not valid: {exc.detail}") from exc
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidInput("file: send the plan as a multipart part named 'file', with a filename")
        fields: dict[str, str] = {}
        for key, value in form.multi_items():
            if key == "file":
                continue
            if key not in FIELDS:
                raise InvalidInput(f"{key[:40]}: unknown field; the form takes file, {', '.join(FIELDS)}")
            if not isinstance(value, str):
                raise InvalidInput(f"{key}: must be a text field, not a file")
            if len(value) > FIELDS[key]:
                raise InvalidInput(f"{key}: longer than {FIELDS[key]} characters")
            if value.strip():
                fields[key] = value.strip()
        if fields.get("repair", "false").lower() not in ("true", "false", "1", "0"):
            raise InvalidInput("repair: must be true or false")
        fields["repair"] = "true" if fields.get("repair", "false").lower() in ("true", "1") else "false"
        path, name = await run_in_threadpool(_receive, file, tmp, limit)
    finally:
        await form.close()
    return fields, path, name


def _receive(file: UploadFile, tmp: Path, limit: int) -> tuple[Path, str]:
    """The upload copied to ``tmp/upload<suffix>`` (the user's name is only shown, never a path)."""
    name = Path((file.filename or "").replace("\\", "/")).name
    if not re.fullmatch(r"[^\x00-\x1f\x7f/]{1,120}", name):
        name = "upload" + Path(name).suffix.lower()[:8]
    suffix = Path(name).suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise InvalidInput(
            f"{name}: unknown format {suffix or '(no suffix)'}; upload {', '.join(FILE_SUFFIXES)} "
            "(GeoJSON, GeoPackage, a zipped Shapefile or a DXF drawing)"
        )
    target = tmp / f"upload{suffix}"
    size = 0
    with target.open("wb") as out:
        while chunk := file.file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"{name}: larger than {limit} bytes (the limit)")
            out.write(chunk)
    if size == 0:
        raise InvalidInput(f"{name}: the file is empty")
    return target, name


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
