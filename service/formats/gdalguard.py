"""The process's GDAL, hardened once: only the drivers we use, no network, no sibling files.

Both GDAL libraries a process loads (pyogrio's and rasterio's wheels each carry one) get the same treatment:
every driver outside :data:`ALLOWED_DRIVERS` is deregistered (and skipped again whenever rasterio registers
drivers anew), every HTTP fetch GDAL attempts (CPLHTTPFetch: a GeoJSON's CRS link, WMS, ...) is answered by a
callback of ours with an error, and configuration options are set inside each library (never in the environment,
which child processes such as ``ogrinfo`` or ``pg_dump`` would inherit). Used by :mod:`service.formats.safeopen`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VECTOR_DRIVERS = ("GPKG", "ESRI Shapefile", "GeoJSON", "DXF")
RASTER_DRIVERS = ("GTiff", "COG", "PNG")
# In-memory datasets of rasterio's reprojection (MEM), and the in-memory VRT its warper builds: raster-only
# drivers, which a vector open never considers, and every raster open of ours names the GTiff driver.
INTERNAL_DRIVERS = ("MEM", "Memory", "VRT")
ALLOWED_DRIVERS = frozenset(VECTOR_DRIVERS + RASTER_DRIVERS + INTERNAL_DRIVERS)
# Set inside each GDAL library of the process (CPLSetConfigOption), never in the environment.
GDAL_CONFIG = {
    "PROJ_NETWORK": "OFF",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".gebiedscheck-no-remote-files",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_PAM_ENABLED": "NO",
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GTIFF_REPORT_COMPD_CS": "NO",
}
# Environment variables that would send GDAL to the network or to credentials: removed at start-up.
_REFUSED_ENV = re.compile(r"^(GDAL_HTTP_(PROXY|PROXYUSERPWD|USERPWD|AUTH|HEADER_FILE|HEADERS|COOKIE)|CPL_CURL_.*)$")

_lock = threading.Lock()
_hardened: dict[str, list[str]] | None = None


def _loaded_gdal_libraries() -> list[str]:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {line.split()[-1] for line in fh if re.search(r"/libgdal[^/]*\.so", line)}
    except OSError:  # not Linux: the environment settings and the content checks still hold
        return []
    return sorted(paths)


def _driver_names(lib: Any) -> list[str]:
    lib.GDALGetDriverCount.restype = ctypes.c_int
    lib.GDALGetDriver.restype = ctypes.c_void_p
    lib.GDALGetDriver.argtypes = [ctypes.c_int]
    lib.GDALGetDriverShortName.restype = ctypes.c_char_p
    lib.GDALGetDriverShortName.argtypes = [ctypes.c_void_p]
    return [lib.GDALGetDriverShortName(lib.GDALGetDriver(i)).decode() for i in range(lib.GDALGetDriverCount())]


def _deregister_others(lib: Any) -> list[str]:
    """Deregister every driver outside ALLOWED_DRIVERS in one GDAL library; the names that remain."""
    lib.GDALGetDriverByName.restype = ctypes.c_void_p
    lib.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
    lib.GDALDeregisterDriver.argtypes = [ctypes.c_void_p]
    for name in _driver_names(lib):
        if name not in ALLOWED_DRIVERS:
            handle = lib.GDALGetDriverByName(name.encode())
            if handle:
                lib.GDALDeregisterDriver(handle)
    return _driver_names(lib)


# CPLHTTPFetchCallbackFunc: (url, options, progress, progress_arg, write, write_arg, user_data) -> CPLHTTPResult*
_FETCH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
)


class _HTTPResult(ctypes.Structure):
    """GDAL's CPLHTTPResult (cpl_http.h)."""

    _fields_ = [
        ("nStatus", ctypes.c_int),
        ("pszContentType", ctypes.c_void_p),
        ("pszErrBuf", ctypes.c_void_p),
        ("nDataLen", ctypes.c_int),
        ("nDataAlloc", ctypes.c_int),
        ("pabyData", ctypes.c_void_p),
        ("papszHeaders", ctypes.c_void_p),
        ("nMimePartCount", ctypes.c_int),
        ("pasMimePart", ctypes.c_void_p),
    ]


_callbacks: list[Any] = []  # kept referenced for the life of the process


def _no_http(lib: Any) -> None:
    """Every HTTP fetch of this GDAL library (CPLHTTPFetch: a GeoJSON's CRS link, WMS, ...) is answered by us
    with an error result: it never reaches the network. The result is allocated by GDAL, which frees it."""
    lib.CPLCalloc.restype = ctypes.c_void_p
    lib.CPLCalloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    lib.CPLStrdup.restype = ctypes.c_void_p
    lib.CPLStrdup.argtypes = [ctypes.c_char_p]

    def refuse(url: bytes | None, *_args: Any) -> int:
        shown = (url or b"").decode("utf-8", "replace")[:200]
        log.warning("GDAL tried to fetch %r; refused (no network for GDAL)", shown)
        address = lib.CPLCalloc(1, ctypes.sizeof(_HTTPResult))
        result = _HTTPResult.from_address(address)
        result.nStatus = 1  # a curl error code: the fetch failed
        result.pszErrBuf = lib.CPLStrdup(b"network access is disabled in Gebiedscheck Assen")
        return int(address)

    callback = _FETCH_CALLBACK(refuse)
    _callbacks.append(callback)
    lib.CPLHTTPSetFetchCallback.argtypes = [_FETCH_CALLBACK, ctypes.c_void_p]
    lib.CPLHTTPSetFetchCallback.restype = None
    lib.CPLHTTPSetFetchCallback(callback, None)


def _configure(lib: Any, options: dict[str, str]) -> None:
    """Set GDAL configuration options inside one GDAL library (not in the environment, which child processes
    such as ``ogrinfo`` or ``pg_dump`` would inherit)."""
    lib.CPLSetConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.CPLSetConfigOption.restype = None
    for key, value in options.items():
        lib.CPLSetConfigOption(key.encode(), value.encode())
    if hasattr(lib, "OSRSetPROJEnableNetwork"):
        lib.OSRSetPROJEnableNetwork.argtypes = [ctypes.c_int]
        lib.OSRSetPROJEnableNetwork(0)


def harden() -> dict[str, list[str]]:
    """Restrict the process's GDAL to our drivers, without network or sibling files (idempotent).

    Returns, per GDAL library loaded in the process, the drivers left registered.
    """
    global _hardened
    with _lock:
        if _hardened is not None:
            return _hardened
        for name in [n for n in os.environ if _REFUSED_ENV.match(n)]:
            log.warning("GDAL: ignoring %s from the environment (no network for GDAL)", name)
            del os.environ[name]
        import pyogrio
        import pyproj
        import rasterio

        pyproj.network.set_network_enabled(False)
        known = set(pyogrio.list_drivers())
        with rasterio.Env() as env:  # registers rasterio's drivers (lazily done otherwise)
            known |= set(env.drivers())
        # GDAL_SKIP also holds for any later GDALAllRegister (rasterio calls it per environment).
        skip = ",".join(sorted(n for n in known if n not in ALLOWED_DRIVERS and "," not in n))
        result = {}
        for path in _loaded_gdal_libraries():
            lib = ctypes.CDLL(path)
            _configure(lib, {**GDAL_CONFIG, "GDAL_SKIP": skip})
            _no_http(lib)
            result[Path(path).name] = _deregister_others(lib)
        with rasterio.Env() as env:  # registration again: GDAL_SKIP must keep the others out
            left = set(env.drivers())
        if left - ALLOWED_DRIVERS:
            raise RuntimeError(f"GDAL drivers still registered after hardening: {sorted(left - ALLOWED_DRIVERS)}")
        _hardened = result
        log.info("GDAL restricted to %s", ", ".join(sorted(ALLOWED_DRIVERS)))
        return result


def rasterio_env() -> Any:
    """A rasterio environment with our GDAL settings (call inside ``with``)."""
    import rasterio

    harden()
    return rasterio.Env(**GDAL_CONFIG)


@contextmanager
def open_stored_raster(path: str | Path) -> Iterator[Any]:
    """A raster of our own store (``data/rasters/<sha256>.tif``, written by a load) opened the one safe way: our
    GDAL settings, the GTiff driver only (whatever the file holds, nothing else reads it)."""
    import rasterio

    with rasterio_env(), rasterio.open(path, driver="GTiff") as src:
        yield src
