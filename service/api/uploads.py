"""Reading a multipart upload, the one way both upload routes do it (a layer version, a plan file).

The route has checked the key (where one is needed) and the declared size before it calls :func:`read_form`; the
body middleware caps the body as it streams and times it. The file is copied to ``tmp/upload<suffix>``: the
user's file name is only shown and recorded, never used as a path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from service.api.middleware import BodyRefused
from service.core.errors import InvalidInput, TooLarge

_SHOWN_NAME = re.compile(r"[\w.() -]{1,120}")


async def read_form(
    request: Request, tmp: Path, limit: int, *, max_fields: int, what: str, suffixes: Iterable[str], formats: str
) -> tuple[list[tuple[str, str]], Path, str]:
    """The form's text fields (as sent, the file part left out), the file copied under ``tmp``, and the name to
    show; 413/422 with a message (408 and 413 while streaming come from the body guard)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the upload is larger than {limit} bytes (the limit)")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidInput(f"send the {what} as multipart/form-data, the file in a part named 'file'")
    try:
        form: FormData = await request.form(max_files=1, max_fields=max_fields, max_part_size=64 * 1024)
    except BodyRefused:
        raise
    except HTTPException as exc:  # the multipart parser's complaint (Starlette answers it with a 400)
        raise InvalidInput(f"the multipart body is not valid: {exc.detail}") from exc
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidInput(f"file: send the {what} as a multipart part named 'file', with a filename")
        fields: list[tuple[str, str]] = []
        for key, value in form.multi_items():
            if key == "file":
                continue
            if not isinstance(value, str):
                raise InvalidInput(f"{key[:40]}: must be a text field, not a file")
            fields.append((key, value))
        path, name = await run_in_threadpool(copy_upload, file, tmp, limit, set(suffixes), formats)
    finally:
        await form.close()
    return fields, path, name


def copy_upload(file: UploadFile, tmp: Path, limit: int, suffixes: set[str], formats: str) -> tuple[Path, str]:
    """The upload copied to ``tmp/upload<suffix>`` with a size cap; its name to show (sanitised)."""
    name = Path((file.filename or "").replace("\\", "/")).name
    if not _SHOWN_NAME.fullmatch(name):
        name = "upload" + Path(name).suffix.lower()[:8]
    suffix = Path(name).suffix.lower()
    if suffix not in suffixes:
        raise InvalidInput(f"{name}: unknown format {suffix or '(no suffix)'}; upload {formats}")
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
