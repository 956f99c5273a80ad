"""Writing (GIS staff, role 'beheer'): create a layer, upload a new version, activate a version.

Every write needs `Authorization: Bearer KEY` and lands in the audit log, failed attempts included. A client
whose authentications fail more than ``auth_failures_per_minute`` times a minute gets 429 before its key is
even looked up; its refusals are counted in one audit row per minute (``service.access``).

The upload is read only after the key has been checked: no multipart parsing, no temporary file before that.
Then a declared Content-Length over the limit is refused (413), and the body streams in within the limits of
``service.api.middleware.BodyGuard`` (size, pauses, total time).
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from service import versions
from service.access import audit, authenticate, record_refusal, refusals_this_minute
from service.api.deps import SettingsDep, WriteSessionDep, client_id
from service.api.middleware import BodyRefused
from service.api.params import error_responses
from service.errors import GebiedscheckError, InvalidInput, TooLarge, TooManyRequests
from service.loading import LoadResult

log = logging.getLogger(__name__)
router = APIRouter(prefix="/layers", tags=["layer management"], responses=error_responses(400))
Auth = Annotated[str | None, Header(alias="Authorization", description="Bearer KEY (role beheer)")]
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


def _upload_body() -> dict[str, Any]:
    """The multipart request body of the upload, for OpenAPI (the route parses it itself)."""
    schema = UploadOptions.model_json_schema()
    file = {"type": "string", "contentMediaType": "application/octet-stream", "title": "File"}
    schema = {**schema, "properties": {"file": file, **schema["properties"]}, "required": ["file"]}
    schema["title"] = "UploadForm"
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _audited(request: Request, session: Session, auth: str | None, action: str, target: str, fn: Any) -> Any:
    """Authenticate, run ``fn`` in one transaction, and log the result (a failure in its own transaction)."""
    return _run(request, session, _actor(request, session, auth, action, target), action, target, fn)


def _local_refusals(request: Request, client: str, add: int = 0) -> int:
    """This process's own count of the client's refusals this minute: the throttle holds even where the
    database role cannot write the audit log (a read-only service)."""
    state = request.app.state
    table: dict[str, tuple[int, int]] | None = getattr(state, "auth_refusals", None)
    if table is None:
        table = state.auth_refusals = {}
    minute = int(time.time() // 60)
    seen, count = table.get(client, (minute, 0))
    count = (count if seen == minute else 0) + add
    if add:
        if len(table) > 10_000:  # forget the clients of earlier minutes
            for c in [c for c, (m, _n) in table.items() if m != minute]:
                del table[c]
        table[client] = (minute, count)
    return count


def _refused(request: Request, client: str, action: str, target: str, exc: GebiedscheckError) -> None:
    """Count a refusal in the client's audit row of this minute (a transaction of its own)."""
    _local_refusals(request, client, add=1)
    with request.app.state.sessionmaker() as log_session, log_session.begin():
        record_refusal(log_session, client=client, action=action, target=target, reason=exc.detail)


def _actor(request: Request, session: Session, auth: str | None, action: str, target: str) -> str:
    """The key's holder, or 429 (too many refusals this minute; the key is not looked up) or 401/403."""
    client = client_id(request)
    limit = request.app.state.settings.auth_failures_per_minute
    if limit > 0:
        refused, left_s = refusals_this_minute(session, client)
        session.rollback()
        if max(refused, _local_refusals(request, client)) >= limit:
            retry = max(1, math.ceil(left_s))
            throttled = TooManyRequests(
                f"too many failed authentications: at most {limit} a minute per client; try again in {retry} s",
                retry_after=retry,
            )
            _refused(request, client, action, target, throttled)
            raise throttled
    try:
        key = authenticate(session, auth)
    except GebiedscheckError as exc:
        session.rollback()
        _refused(request, client, action, target, exc)
        raise
    session.rollback()  # end the read of the key; the write gets a transaction of its own
    return f"{key.name} (#{key.id})"


def _failed(request: Request, actor: str, action: str, target: str, detail: str) -> None:
    with request.app.state.sessionmaker() as log_session, log_session.begin():
        audit(log_session, actor=actor, action=action, target=target, result="failed", detail={"reason": detail})


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
        _failed(request, actor, action, target, exc.detail)
        raise


@router.post(
    "",
    status_code=201,
    summary="Create an (empty) vector layer",
    responses=error_responses(401, 403, 422, 429),
)
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
    responses=error_responses(401, 403, 404, 408, 413, 422, 429),
    openapi_extra=_upload_body(),
)
async def upload_version(
    request: Request, session: WriteSessionDep, settings: SettingsDep, slug: Slug, authorization: Auth = None
) -> Any:
    # The key first: nothing of the body is read without it.
    actor = await run_in_threadpool(_actor, request, session, authorization, "load_version", slug)
    tmp = Path(tempfile.mkdtemp(prefix="gebiedscheck-upload-"))
    try:
        try:
            options, named = await _read_upload(request, tmp, settings.max_body_bytes)
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
            )

        return await run_in_threadpool(_run, request, session, actor, action, slug, do)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _read_upload(request: Request, tmp: Path, limit: int) -> tuple[UploadOptions, Path]:
    """The form's options and the uploaded file (copied under ``tmp``), or 413/422 (408 from the guard)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the upload is larger than {limit} bytes (the limit)")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidInput("send the upload as multipart/form-data, the layer file in a part named 'file'")
    try:
        form = await request.form(max_files=1, max_fields=20, max_part_size=64 * 1024)
    except BodyRefused:
        raise
    except HTTPException as exc:  # the multipart parser's complaint (Starlette answers it with a 400)
        raise InvalidInput(f"the multipart body is not valid: {exc.detail}") from exc
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidInput("file: send the layer file as a multipart part named 'file', with a filename")
        fields: dict[str, Any] = {}
        for name, value in form.multi_items():
            if name in UploadOptions.model_fields:
                if not isinstance(value, str):
                    raise InvalidInput(f"{name}: must be a text field, not a file")
                if value != "":  # an empty field is an absent one (as FastAPI's Form reads it)
                    fields[name] = value
        try:
            options = UploadOptions.model_validate(fields)
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
            raise InvalidInput("; ".join(problems)) from exc
        named = await run_in_threadpool(_receive, file, tmp, limit)
    finally:
        await form.close()
    return options, named


def _receive(file: UploadFile, tmp: Path, limit: int) -> Path:
    """The upload, copied under our own directory (nothing of the user's goes to GDAL as a path)."""
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
    responses=error_responses(401, 403, 404, 422, 429),
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
