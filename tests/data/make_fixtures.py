"""Writes the small geodata fixtures of the tests (committed; rerun only to change them)."""

from pathlib import Path

import geopandas as gpd
from shapely import MultiPolygon, Point, Polygon

HERE = Path(__file__).parent
RD = "EPSG:28992"

# A self-intersecting "bow tie" next to a valid square, near Assen's centre (RD metres).
bowtie = Polygon([(233000, 557000), (233200, 557200), (233200, 557000), (233000, 557200), (233000, 557000)])
square = Polygon([(233500, 557000), (233600, 557000), (233600, 557100), (233500, 557100)])
gpd.GeoDataFrame({"name": ["Vlinderdas", "Vierkant"]}, geometry=[bowtie, square], crs=RD).to_file(
    HERE / "bowtie.gpkg", layer="bowtie", driver="GPKG"
)

# Two valid squares, the second 1 ha; to stand in for a changed layer.
sq2 = Polygon([(233000, 557000), (233100, 557000), (233100, 557100), (233000, 557100)])
gpd.GeoDataFrame({"name": ["Vierkant A", "Vierkant B"]}, geometry=[MultiPolygon([square]), sq2], crs=RD).to_file(
    HERE / "two_squares.gpkg", layer="two_squares", driver="GPKG"
)

# A point layer (not polygonal).
gpd.GeoDataFrame({"name": ["Punt"]}, geometry=[Point(233000, 557000)], crs=RD).to_file(
    HERE / "points.gpkg", layer="points", driver="GPKG"
)

# A shapefile without .prj: no CRS stated.
nocrs = HERE / "no_crs"
nocrs.mkdir(exist_ok=True)
gpd.GeoDataFrame({"name": ["Zonder CRS"]}, geometry=[square]).to_file(nocrs / "no_crs.shp")

# Not a geodata file at all.
(HERE / "not_a_layer.gpkg").write_text("dit is geen GeoPackage\n")

# A zone with a hole and a second part, for boundary cases (RD metres, north-east of Assen).
outer = [(236000, 560000), (236400, 560000), (236400, 560400), (236000, 560400), (236000, 560000)]
hole = [(236100, 560100), (236300, 560100), (236300, 560300), (236100, 560300), (236100, 560100)]
second = Polygon([(237000, 560000), (237200, 560000), (237200, 560200), (237000, 560200)])
# And a feature whose name is markup: it must show as text everywhere, never run.
evil = Polygon([(238000, 561000), (238300, 561000), (238300, 561300), (238000, 561300)])
gpd.GeoDataFrame(
    {"name": ["Ring met gat", "<img src=x onerror=alert(1)>"]},
    geometry=[MultiPolygon([Polygon(outer, [hole]), second]), MultiPolygon([evil])],
    crs=RD,
).to_file(HERE / "testgebied.gpkg", layer="testgebied", driver="GPKG")
