"""Housekeeping: what an interrupted load (``kill -9``, a power cut) leaves behind, removed once it is old.

A load works in temporary directories (``gebiedscheck-upload-*``, ``-zip-*``, ``-raster-*``, ``-gio-*``,
``-stage-*`` under :func:`tempfile.gettempdir`) that its own ``finally`` removes, and copies a raster into the
store as ``<data_dir>/rasters/<sha256>.tif.part`` before renaming it to ``<sha256>.tif`` and naming it in
``layer_versions.raster_path``. A killed process does none of the clean-up, so :func:`clean_leftovers`:

- removes our temporary directories whose newest entry is older than ``min_age_s`` (a load still running in
  another process keeps touching its directory, and no load takes an hour between two writes);
- removes ``<sha256>.tif.part`` files older than ``min_age_s`` (a copy in progress is fresh);
- removes ``<sha256>.tif`` files older than ``min_age_s`` that no row of ``layer_versions`` names (by file
  name, as :func:`service.loading.pipeline.resolve_raster` finds them: the data dir may have moved). A load copies its
  raster before its transaction commits, so a young unreferenced raster is left alone.

Only our own names are touched (exact patterns; regular files and real directories, never a symlink, and in
the temp dir only what this user owns). Every removal is logged, with a summary at the end. Nothing here is
run automatically: the caller (the app's start-up, a CLI command) decides when.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

MIN_AGE_S = 3600.0
TEMP_DIR = re.compile(r"gebiedscheck-(upload|zip|raster|gio|stage)-[A-Za-z0-9_]+")
RASTER = re.compile(r"[0-9a-f]{64}\.tif")
RASTER_PART = re.compile(r"[0-9a-f]{64}\.tif\.part")
_MAX_WALK = 10_000  # entries looked at to date a temp dir; past it, the dir counts as fresh (left alone)


@dataclass
class CleanupReport:
    removed_temp_dirs: list[Path] = field(default_factory=list)
    removed_rasters: list[Path] = field(default_factory=list)
    removed_parts: list[Path] = field(default_factory=list)
    kept_young: list[Path] = field(default_factory=list)  # ours and unreferenced, but younger than min_age_s
    failed: list[tuple[Path, str]] = field(default_factory=list)
    freed_bytes: int = 0

    @property
    def removed(self) -> int:
        return len(self.removed_temp_dirs) + len(self.removed_rasters) + len(self.removed_parts)


def clean_leftovers(
    session: Session,
    *,
    settings: Settings | None = None,
    min_age_s: float = MIN_AGE_S,
    temp_dir: Path | None = None,
    now: float | None = None,
) -> CleanupReport:
    """Remove the leftovers of interrupted loads that are older than ``min_age_s`` (see the module doc).

    ``temp_dir`` defaults to :func:`tempfile.gettempdir`; ``now`` (epoch seconds) to the current time.
    Reads ``layer_versions`` (no writes, nothing to commit).
    """
    settings = settings or get_settings()
    if min_age_s < 0:
        raise ValueError("min_age_s must be 0 or more")
    cutoff = (time.time() if now is None else now) - min_age_s
    report = CleanupReport()
    _clean_temp(Path(temp_dir or tempfile.gettempdir()), cutoff, report)
    store = settings.raster_store
    if store.is_dir():
        _clean_rasters(session, store, cutoff, report)
    log.info(
        "housekeeping: removed %d temporary dir(s), %d unreferenced raster(s), %d partial raster(s) (%d bytes); "
        "%d younger than %.0f s kept; %d failed",
        len(report.removed_temp_dirs),
        len(report.removed_rasters),
        len(report.removed_parts),
        report.freed_bytes,
        len(report.kept_young),
        min_age_s,
        len(report.failed),
    )
    return report


def _referenced(session: Session) -> set[str]:
    rows = session.execute(text("SELECT DISTINCT raster_path FROM layer_versions WHERE raster_path IS NOT NULL"))
    return {Path(str(r[0])).name for r in rows}


def _newest_mtime(top: Path) -> float | None:
    """The newest modification time of ``top`` and everything in it (symlinks not followed); None: too big."""
    newest = top.lstat().st_mtime
    seen = 0
    for root, dirs, files in os.walk(top, followlinks=False):
        for name in (*dirs, *files):
            seen += 1
            if seen > _MAX_WALK:
                return None
            try:
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def _size(top: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(top, followlinks=False):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _clean_temp(tmp: Path, cutoff: float, report: CleanupReport) -> None:
    uid = os.getuid()
    if not tmp.is_dir():
        return
    try:
        entries = list(os.scandir(tmp))
    except OSError as exc:
        report.failed.append((tmp, str(exc)))
        return
    for entry in entries:
        if not TEMP_DIR.fullmatch(entry.name):
            continue
        path = Path(entry.path)
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:  # a symlink or another user's: not ours
                continue
            newest = _newest_mtime(path)
            if newest is None or newest > cutoff:
                report.kept_young.append(path)
                continue
            size = _size(path)
            shutil.rmtree(path)
        except FileNotFoundError:
            continue  # gone meanwhile (its load finished)
        except OSError as exc:
            report.failed.append((path, str(exc)))
            log.warning("housekeeping: could not remove %s: %s", path, exc)
            continue
        report.removed_temp_dirs.append(path)
        report.freed_bytes += size
        log.info("housekeeping: removed temporary dir %s (%d bytes, left by an interrupted load)", path, size)


def _clean_rasters(session: Session, store: Path, cutoff: float, report: CleanupReport) -> None:
    referenced = _referenced(session)
    for entry in list(os.scandir(store)):
        part = bool(RASTER_PART.fullmatch(entry.name))
        if not part and not RASTER.fullmatch(entry.name):
            continue
        if not part and entry.name in referenced:
            continue
        path = Path(entry.path)
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                continue
            if st.st_mtime > cutoff:
                report.kept_young.append(path)
                continue
            # Asked again just before: a version committed since the first look keeps its raster.
            if not part and entry.name in _referenced(session):
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            report.failed.append((path, str(exc)))
            log.warning("housekeeping: could not remove %s: %s", path, exc)
            continue
        (report.removed_parts if part else report.removed_rasters).append(path)
        report.freed_bytes += st.st_size
        what = "partial raster copy" if part else "raster no layer version names"
        log.info("housekeeping: removed %s %s (%d bytes)", what, path, st.st_size)
