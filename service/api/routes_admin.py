"""Writing (GIS staff, role 'beheer'): create a layer, upload a new version, activate a version.

Every write needs `Authorization: Bearer KEY` and lands in the audit log, failed attempts included.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Request, UploadFile
from fastapi import Path as PathParam
from sqlalchemy.orm import Session

from service import versions
from service.access import audit, authenticate
from service.api.deps import SettingsDep, WriteSessionDep
from service.api.params import error_responses
from service.errors import GebiedscheckError, InvalidInput, TooLarge
from service.loading import LoadResult

router = APIRouter(prefix="/layers", tags=["layer management"], responses=error_responses(400))
Auth = Annotated[str | None, Header(alias="Authorization", description="Bearer KEY (role beheer)")]
Slug = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
UPLOAD_SUFFIXES = {".geojson", ".json", ".gpkg", ".zip", ".gml", ".xml", ".tif", ".tiff"}


def _audited(request: Request, session: Session, auth: str | None, action: str, target: str, fn: Any) -> Any:
    """Authenticate, run ``fn`` in one transaction, and log the result (a failure in its own transaction)."""
    return _run(request, session, _actor(request, session, auth, action, target), action, target, fn)


def _actor(request: Request, session: Session, auth: str | None, action: str, target: str) -> str:
    """The key's holder, or 401/403 (logged as refused)."""
    try:
        key = authenticate(session, auth)
    except GebiedscheckError as exc:
        session.rollback()
        with request.app.state.sessionmaker() as log_session, log_session.begin():
            audit(
                log_session,
                actor="(geen geldige sleutel)",
                action=action,
                target=target,
                result="refused",
                detail={"reason": exc.detail},
            )
        raise
    session.rollback()  # end the read of the key; the write gets a transaction of its own
    return f"{key.name} (#{key.id})"


def _run(request: Request, session: Session, actor: str, action: str, target: str, fn: Any) -> Any:
    """Run ``fn`` in one transaction and log the result (a failure in its own transaction)."""
    try:
        with session.begin():
            result = fn(actor)
            audit(
                session,
                actor=actor,
                action=action,
                target=target,
                result="ok",
                detail=result.model_dump(mode="json") if hasattr(result, "model_dump") else {},
            )
        return result
    except GebiedscheckError as exc:
        with request.app.state.sessionmaker() as log_session, log_session.begin():
            audit(
                log_session, actor=actor, action=action, target=target, result="failed", detail={"reason": exc.detail}
            )
        raise


@router.post("", status_code=201, summary="Create an (empty) vector layer", responses=error_responses(401, 403, 422))
def create_layer(request: Request, session: WriteSessionDep, new: versions.NewLayer, authorization: Auth = None) -> Any:
    def do(_actor: str) -> Any:
        versions.create_layer(session, new)
        return new

    return _audited(request, session, authorization, "create_layer", new.slug, do)


@router.post(
    "/{slug}/versions",
    status_code=201,
    response_model=LoadResult | versions.DiffReport,
    summary="Upload a new version (GeoJSON, GeoPackage, zipped Shapefile); dry_run=true only reports",
    responses=error_responses(401, 403, 404, 413, 422),
)
def upload_version(
    request: Request,
    session: WriteSessionDep,
    settings: SettingsDep,
    slug: Slug,
    file: UploadFile,
    authorization: Auth = None,
    name_field: Annotated[str | None, Form()] = None,
    gpkg_layer: Annotated[str | None, Form()] = None,
    crs: Annotated[str | None, Form()] = None,
    dry_run: Annotated[bool, Form()] = False,
    note: Annotated[str | None, Form(max_length=2000)] = None,
    provenance: Annotated[str | None, Form(max_length=1000)] = None,
    official: Annotated[bool, Form()] = False,
    repair: Annotated[bool, Form()] = False,
) -> Any:
    action = "load_version" + (" (dry run)" if dry_run else "")
    actor = _actor(request, session, authorization, action, slug)  # the key first: nothing is read without it
    tmp = Path(tempfile.mkdtemp(prefix="gebiedscheck-upload-"))

    def do(actor: str) -> Any:  # size and format refusals are audited as failed, like load errors
        named = _receive(request, file, tmp, settings.max_body_bytes)
        return versions.load_file(
            session,
            named,
            slug=slug,
            name_field=name_field,
            layer=gpkg_layer,
            crs=crs,
            note=note,
            provenance=provenance,
            official=official,
            dry_run=dry_run,
            created_by=actor,
            settings=settings,
            repair=repair,
        )

    try:
        return _run(request, session, actor, action, slug, do)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _receive(request: Request, file: UploadFile, tmp: Path, limit: int) -> Path:
    """The upload, copied under our own directory (nothing of the user's goes to GDAL as a path)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the upload is larger than {limit} bytes (the limit)")
    name = Path(file.filename or "upload").name
    if not re.fullmatch(r"[A-Za-z0-9._ -]{1,120}", name):
        name = "upload" + Path(name).suffix.lower()[:8]
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise InvalidInput(f"{name}: unknown format; upload .geojson, .gpkg, a zipped Shapefile (.zip) or a GIO (.gml)")
    target = tmp / f"upload{suffix}"
    size = 0
    with target.open("wb") as out:
        while chunk := file.file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"{name}: larger than {limit} bytes (the limit)")
            out.write(chunk)
    named = tmp / name if name and "/" not in name else target
    if named != target:
        target.rename(named)
    return named


@router.post(
    "/{slug}/versions/{number}/activate",
    summary="Make a version current again (rollback)",
    responses=error_responses(401, 403, 404, 422),
)
def activate_version(
    request: Request, session: WriteSessionDep, slug: Slug, number: int, authorization: Auth = None
) -> Any:
    return _audited(
        request,
        session,
        authorization,
        "activate",
        f"{slug}/{number}",
        lambda _actor: versions.activate(session, slug, number),
    )
