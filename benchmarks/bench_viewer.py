"""The viewer's weight: /kaart HTML plus its data (GeoJSON in the page, the heat PNG) must stay under 2 MB,
with the default layers and with a Natura 2000 layer of 200,000 vertices (detailed, as official data is).
Library assets (Leaflet, ...) are not counted: they are static files the browser caches.
Run: .venv/bin/python benchmarks/bench_viewer.py
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from service.api.app import create_app  # noqa: E402
from service.core.settings import Settings  # noqa: E402
from service.loading.manifest import read_manifest  # noqa: E402
from service.loading.pipeline import load_defaults, read_vector, write_version  # noqa: E402
from service.store.database import drop_database, init_database, make_engine, session_scope  # noqa: E402
from service.store.embedded import resolve_database_url  # noqa: E402

LIMIT = 2 * 1024 * 1024


def detailed_natura2000(path: Path, vertices: int = 200_000) -> int:
    """The default Natura 2000 features with a detailed edge (wiggles of 4 m over 40 m and 1 m over 7 m, as
    field edges and ditches give official boundaries): about ``vertices`` in all."""
    gdf = gpd.read_file(ROOT / "layers" / "vector" / "natura2000.gpkg")
    step = float(gdf.geometry.length.sum()) / vertices
    geoms = []
    for g in gdf.geometry:
        polys = []
        for poly in g.geoms:
            xy = np.asarray(shapely.segmentize(poly.exterior, step).coords)[:-1]
            d = np.diff(np.vstack([xy, xy[:1]]), axis=0)
            s = np.concatenate([[0], np.cumsum(np.hypot(d[:, 0], d[:, 1]))[:-1]])
            normal = np.column_stack([d[:, 1], -d[:, 0]]) / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
            offset = 4 * np.sin(2 * np.pi * s / 40) + 1 * np.sin(2 * np.pi * s / 7)
            ring = xy + normal * offset[:, None]
            p = shapely.Polygon(np.vstack([ring, ring[:1]]))
            polys += list(getattr(p if p.is_valid else shapely.make_valid(p), "geoms", [p]))
        geoms.append(shapely.MultiPolygon([p for p in polys if p.geom_type == "Polygon"]))
    gdf = gdf.set_geometry(geoms)
    gdf.to_file(path, driver="GPKG")
    return int(sum(shapely.get_num_coordinates(g) for g in geoms))


def weigh(settings: Settings) -> tuple[int, int]:
    with TestClient(create_app(settings)) as c:
        html = c.get("/kaart")
        html.raise_for_status()
        png = c.get("/kaart/hitte-eiland.png")
        png.raise_for_status()
    return len(html.content), len(png.content)


def main() -> int:
    server = resolve_database_url(Settings(_env_file=None))
    url = server.rsplit("/", 1)[0] + f"/gebiedscheck_bench_{random.randrange(16**8):08x}"
    init_database(url)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(_env_file=None, database_url=url, data_dir=Path(tmp) / "data")
            engine = make_engine(settings)
            with session_scope(engine) as s:
                load_defaults(s, settings=settings)
            results.append(("default layers", None, *weigh(settings)))
            big = Path(tmp) / "natura2000-detailed.gpkg"
            n = detailed_natura2000(big)
            spec = read_manifest(ROOT / "layers").get("natura2000")
            with session_scope(engine) as s:
                write_version(
                    s,
                    layer=spec,
                    prepared=read_vector(big),
                    created_by="bench",
                    settings=settings,
                )
            results.append(("Natura 2000 with 200k vertices", n, *weigh(settings)))
            engine.dispose()
    finally:
        drop_database(url)
    print(f"{'case':34} {'vertices':>9} {'HTML':>10} {'heat PNG':>10} {'total':>10}  limit 2 MB")
    for name, n, html, png in results:
        total = html + png
        verdict = "OK" if total < LIMIT else "MISS"
        print(
            f"{name:34} {n or '':>9} {html / 1024:8.0f}kB {png / 1024:8.0f}kB {total / 1024:8.0f}kB  "
            f"{total / LIMIT:.0%} of the limit {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
