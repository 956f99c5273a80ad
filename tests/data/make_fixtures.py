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

# --- Layer management fixtures -------------------------------------------------------------------------------
import zipfile  # noqa: E402

import shapely  # noqa: E402
import shapely.affinity  # noqa: E402

LAYERS = HERE.parent.parent / "layers" / "vector"

# PDOK-like Natura 2000: its field names (naamN2K, nr, beschermin); Witterveld 200 m larger than ours.
n2k = gpd.read_file(LAYERS / "natura2000.gpkg")
geoms = [g.buffer(200) if n == "Witterveld" else g for n, g in zip(n2k.name, n2k.geometry, strict=True)]
gpd.GeoDataFrame(
    {"naamN2K": n2k.name, "nr": n2k.site_number.astype(int), "beschermin": ["Habitatrichtlijn"] * len(n2k)},
    geometry=[MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in geoms],
    crs=RD,
).to_file(HERE / "pdok_natura2000.gpkg", layer="natura2000", driver="GPKG")

# A new Havenkwartier in WGS84 GeoJSON (RFC 7946), 300 m further east than ours.
hk = gpd.read_file(LAYERS / "havenkwartier.gpkg")
hk.geometry = hk.geometry.translate(xoff=300)
hk[["name", "geometry"]].to_crs(4326).to_file(HERE / "havenkwartier_oost.geojson", driver="GeoJSON")

# A zipped Shapefile (with .prj) of a new layer, and one without .prj.
shp_dir = HERE / "_shp"
shp_dir.mkdir(exist_ok=True)
zone = Polygon([(233800, 556800), (234200, 556800), (234200, 557200), (233800, 557200)])
gpd.GeoDataFrame({"naam": ["Proefgebied"]}, geometry=[zone], crs=RD).to_file(shp_dir / "proef.shp")
with zipfile.ZipFile(HERE / "proefgebied.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for f in sorted(shp_dir.glob("proef.*")):
        z.write(f, f.name)
with zipfile.ZipFile(HERE / "proefgebied_zonder_crs.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for f in sorted(shp_dir.glob("proef.*")):
        if f.suffix != ".prj":
            z.write(f, f.name)
with zipfile.ZipFile(HERE / "evil.zip", "w") as z:
    z.writestr("../buiten.shp", b"not a shapefile")
for f in shp_dir.iterdir():
    f.unlink()
shp_dir.rmdir()

# A STOP GIO (GML) of the Havenkwartier, written from the STOP schema; 200 m further north than ours.
hk_rd = gpd.read_file(LAYERS / "havenkwartier.gpkg").geometry.iloc[0]
ring = shapely.affinity.translate(hk_rd, yoff=200).geoms[0].exterior.coords
poslist = " ".join(f"{x:.3f} {y:.3f}" for x, y in ring)
GIO = f"""<?xml version="1.0" encoding="UTF-8"?>
<geo:GeoInformatieObjectVaststelling xmlns:geo="https://standaarden.overheid.nl/stop/imop/geo/"
    xmlns:basisgeo="http://www.geostandaarden.nl/basisgeometrie/1.0" xmlns:gml="http://www.opengis.net/gml/3.2"
    schemaversie="1.3.0">
  <geo:vastgesteldeVersie>
    <geo:GeoInformatieObjectVersie>
      <geo:FRBRWork>/join/id/regdata/gm0106/2025/23cfc5881b0347258af6b8807ce76be1</geo:FRBRWork>
      <geo:FRBRExpression>/join/id/regdata/gm0106/2025/23cfc5881b0347258af6b8807ce76be1/nld@2026-01-05;12452657</geo:FRBRExpression>
      <geo:naam>Havenkwartier</geo:naam>
      <geo:locaties>
        <geo:Locatie>
          <geo:naam>Havenkwartier</geo:naam>
          <geo:geometrie>
            <basisgeo:Geometrie>
              <basisgeo:id>0f6a0c3e-3b0b-4b7e-9f5e-8a3c8d2b1e01</basisgeo:id>
              <basisgeo:geometrie>
                <gml:MultiSurface srsName="urn:ogc:def:crs:EPSG::28992" gml:id="id-hk-1">
                  <gml:surfaceMember>
                    <gml:Polygon gml:id="id-hk-1-1">
                      <gml:exterior><gml:LinearRing><gml:posList>{poslist}</gml:posList></gml:LinearRing></gml:exterior>
                    </gml:Polygon>
                  </gml:surfaceMember>
                </gml:MultiSurface>
              </basisgeo:geometrie>
            </basisgeo:Geometrie>
          </geo:geometrie>
        </geo:Locatie>
      </geo:locaties>
    </geo:GeoInformatieObjectVersie>
  </geo:vastgesteldeVersie>
</geo:GeoInformatieObjectVaststelling>
"""
(HERE / "gio_havenkwartier.gml").write_text(GIO, encoding="utf-8")
(HERE / "gio_doctype.gml").write_text(
    '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n' + GIO.split("\n", 1)[1],
    encoding="utf-8",
)

# A tiny GeoTIFF in WGS84 (to be reprojected): 0.5 °C everywhere around the Havenkwartier; and one without CRS.
import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402

tif = {
    "driver": "GTiff",
    "width": 100,
    "height": 60,
    "count": 1,
    "dtype": "float32",
    "nodata": -9999.0,
    "transform": from_origin(6.54, 53.015, 0.0005, 0.0005),
}
with rasterio.open(HERE / "uhi_wgs84.tif", "w", crs="EPSG:4326", **tif) as dst:
    dst.write(np.full((1, 60, 100), 0.5, dtype="float32"))
with rasterio.open(HERE / "uhi_zonder_crs.tif", "w", **tif) as dst:
    dst.write(np.full((1, 60, 100), 0.5, dtype="float32"))
