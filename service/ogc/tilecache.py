"""Vector tiles kept on disk (``<data dir>/tiles``): a tile is built once per (layer version, tile matrix set, tile).

The key holds the version's stamp (database, version id, creation time), so a new version or a rollback makes the
old entries unreachable by key: nothing is swept to keep answers right. The directory is bounded: when it grows past
:data:`MAX_BYTES`, the oldest files (by modification time, i.e. by when they were built) go until it is back under
:data:`LOW_BYTES`. Writes are atomic (a temporary file renamed into place), so a reader sees a whole tile or none,
and several workers may share the directory. An unreadable or unwritable cache is skipped, never an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

MAX_BYTES = 512 * 1024 * 1024
LOW_BYTES = MAX_BYTES * 3 // 4
_state = {"bytes": -1}  # this process's estimate of the directory's size; -1: not yet counted
_lock = threading.Lock()


def key(stamp: str, tms_id: str, level: int, row: int, col: int) -> str:
    """The tile's path below the cache directory: a folder per version stamp, then set/level/row/col."""
    folder = hashlib.sha256(stamp.encode()).hexdigest()[:24]
    return f"{folder}/{tms_id}/{int(level)}/{int(row)}/{int(col)}.mvt"


def get(cache_dir: Path, k: str) -> bytes | None:
    try:
        return (cache_dir / k).read_bytes()
    except OSError:
        return None


def put(cache_dir: Path, k: str, data: bytes, *, max_bytes: int = MAX_BYTES) -> None:
    path = cache_dir / k
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("tile cache: cannot write %s: %s", path, exc)
        return
    with _lock:
        if _state["bytes"] < 0:
            _state["bytes"] = size(cache_dir)
        else:
            _state["bytes"] += len(data)
        over = _state["bytes"] > max_bytes
    if over:
        evict(cache_dir, low=max_bytes * 3 // 4)


def size(cache_dir: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(cache_dir):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def evict(cache_dir: Path, *, low: int = LOW_BYTES) -> int:
    """Remove the oldest tiles until the directory holds at most ``low`` bytes; the bytes it now holds."""
    entries = []
    for root, _dirs, files in os.walk(cache_dir):
        for name in files:
            p = os.path.join(root, name)
            try:
                st = os.stat(p)
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, p))
    total = sum(e[1] for e in entries)
    for _mtime, nbytes, p in sorted(entries):
        if total <= low:
            break
        try:
            os.remove(p)
            total -= nbytes
        except OSError:
            pass
    with _lock:
        _state["bytes"] = total
    return total
