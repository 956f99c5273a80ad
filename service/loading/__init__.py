"""Loading layers as versions: the manifest of default layers, reading a vector or raster file into prepared
features or a raster, validating them with the one repair, and writing one new version in the caller's
transaction (``pipeline``); dry runs, official files (GIO, PDOK) and activating an older version
(``versions``). Imports ``service.core``, ``service.store``, ``service.spatial`` and ``service.formats``;
never ``questions`` or ``ogc``."""
