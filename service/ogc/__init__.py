"""OGC API – Features (Parts 1–3) and Tiles over the versions in force: collections, items, CRS handling,
filters and vector tiles. Imports ``core``, ``store`` and ``spatial``; never ``questions`` or ``loading``."""
