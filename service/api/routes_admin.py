"""Writing (GIS staff, role 'beheer'): create a layer, upload a new version, activate a version.

Every write needs `Authorization: Bearer KEY` (the ``BeheerKey`` dependency) and lands in the audit log,
failed attempts included. A client whose authentications fail more than ``auth_failures_per_minute`` times a
minute gets 429 before its key is even looked up; its refusals are counted in one audit row per minute
(``service.store.access.authorize``).

The upload is read only after the key has been checked: the route declares no body parameter (it parses its
multipart body itself), so FastAPI runs the dependency, the key check, before anything of the body is read.
Then a declared Content-Length over the limit is refused (413), and the body streams in within the limits of
``service.api.middleware.BodyGuard`` (size, pauses, total time).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from service.api.deps import BeheerKey, SettingsDep, TransactionDep, audited_as, with_replica_state
from service.api.middleware import BodyRefused
from service.api.params import error_responses
from service.api.uploads import read_form
from service.core.errors import GebiedscheckError, InvalidInput
from service.loading import versions
from service.loading.pipeline import LoadResult
from service.store.access import audit

log = logging.getLogger(__name__)
router = APIRouter(prefix="/layers", tags=["layer management"], responses=error_responses(400))
Slug = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
UPLOAD_SUFFIXES = {".geojson", ".json", ".gpkg", ".zip", ".gml", ".xml", ".tif", ".tiff"}


class UploadOptions(BaseModel):
    """The text fields of an upload (the CLI's options)."""

    name_field: str | None = None
    gpkg_layer: str | None = None
    crs: str | None = None
    dry_run: bool = False
    note: str | None = Field(default=None, max_length=2000)
    provenance: str | None = Field(default=None, max_length=1000)
    official: bool = False
    repair: bool = False


class LoadAnswer(LoadResult):
    """A load's result, and whether the read replica answers with it yet."""

    replica: Literal["applied", "pending"] | None = Field(
        default=None,
        description="'applied': the read replica has replayed this load; 'pending': not within "
        "GEBIEDSCHECK_REPLICA_WAIT_S (it follows later); null: no read replica is configured",
    )


def _upload_body() -> dict[str, Any]:
    """The multipart request body of the upload, for OpenAPI (the route parses it itself)."""
    schema = UploadOptions.model_json_schema()
    file = {"type": "string", "contentMediaType": "application/octet-stream", "title": "File"}
    schema = {**schema, "properties": {"file": file, **schema["properties"]}, "required": ["file"]}
    schema["title"] = "UploadForm"
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _failed(request: Request, actor: str, action: str, target: str, detail: str) -> None:
    with request.app.state.sessionmaker() as log_session, log_session.begin():
        audit(log_session, actor=actor, action=action, target=target, result="failed", detail={"reason": detail})


def _run(request: Request, session: Session, actor: str, action: str, target: str, fn: Any) -> Any:
    """Run ``fn`` in the request's transaction (``TransactionDep``: committed when the route returns, rolled back
    when it raises) with its audit row; a failure is logged in a transaction of its own, which outlives the
    rollback."""
    try:
        result = fn(actor)
        audit(
            session,
            actor=actor,
            action=action,
            target=target,
            result="ok",
            detail=result.model_dump(mode="json") if hasattr(result, "model_dump") else {},
        )
    except GebiedscheckError as exc:
        _failed(request, actor, action, target, exc.detail)
        raise
    return result


@router.post(
    "",
    status_code=201,
    summary="Create an (empty) vector layer",
    responses=error_responses(401, 403, 422, 429),
)
@audited_as("create_layer", target_field="slug")
def create_layer(request: Request, session: TransactionDep, new: versions.NewLayer, key: BeheerKey) -> Any:
    def do(_actor: str) -> Any:
        versions.create_layer(session, new)
        return new

    return _run(request, session, key.actor, "create_layer", new.slug, do)


@router.post(
    "/{slug}/versions",
    status_code=201,
    response_model=LoadAnswer | versions.DiffReport,
    summary="Upload a new version (GeoJSON, GeoPackage, zipped Shapefile); dry_run=true only reports",
    responses=error_responses(401, 403, 404, 408, 413, 422, 429),
    openapi_extra=_upload_body(),
)
@audited_as("load_version")
async def upload_version(
    request: Request, session: TransactionDep, settings: SettingsDep, slug: Slug, key: BeheerKey
) -> Any:
    actor = key.actor  # the key was checked (BeheerKey) before anything of the body was read
    tmp = Path(tempfile.mkdtemp(prefix="gebiedscheck-upload-"))
    try:
        try:
            options, named, shown = await _read_upload(request, tmp, settings.max_body_bytes)
        except (GebiedscheckError, BodyRefused) as exc:  # size, time and format refusals are audited as failed
            await run_in_threadpool(_failed, request, actor, "load_version", slug, str(exc.detail))
            raise
        action = "load_version" + (" (dry run)" if options.dry_run else "")

        def do(actor: str) -> Any:
            return versions.load_file(
                session,
                named,
                slug=slug,
                name_field=options.name_field,
                layer=options.gpkg_layer,
                crs=options.crs,
                note=options.note,
                provenance=options.provenance,
                official=options.official,
                dry_run=options.dry_run,
                created_by=actor,
                settings=settings,
                repair=options.repair,
                cancel=request.app.state.stopping.is_set,
                source_name=shown,
            )

        result = await run_in_threadpool(_run, request, session, actor, action, slug, do)
        return result if options.dry_run else with_replica_state(request, result, status_code=201)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _read_upload(request: Request, tmp: Path, limit: int) -> tuple[UploadOptions, Path, str]:
    """The form's options and the uploaded file (copied under ``tmp``), or 413/422 (408 from the guard)."""
    raw, path, name = await read_form(
        request,
        tmp,
        limit,
        max_fields=20,
        what="layer file",
        suffixes=UPLOAD_SUFFIXES,
        formats=".geojson, .gpkg, a zipped Shapefile (.zip), a GIO (.gml) or a GeoTIFF (.tif)",
    )
    fields: dict[str, Any] = {}
    for key, value in raw:
        if key in UploadOptions.model_fields and value != "":  # an empty field is an absent one (as Form reads)
            fields[key] = value
    try:
        options = UploadOptions.model_validate(fields)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise InvalidInput("; ".join(problems)) from exc
    return options, path, name


@router.post(
    "/{slug}/versions/{number}/activate",
    summary="Make a version current again (rollback)",
    responses=error_responses(401, 403, 404, 422, 429),
)
@audited_as("activate")
def activate_version(request: Request, session: TransactionDep, slug: Slug, number: int, key: BeheerKey) -> Any:
    result = _run(
        request, session, key.actor, "activate", f"{slug}/{number}", lambda _a: versions.activate(session, slug, number)
    )
    return with_replica_state(request, result, status_code=200)
