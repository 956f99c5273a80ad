"""Files as hostile input: which kinds we accept (suffix confirmed by content), GDAL hardened to our drivers
with no network, staging a file alone under our own name, reading vectors, rasters, STOP GIO GML
(defusedxml) and the batch's initiative files. Imports ``service.core`` and ``service.spatial``."""
