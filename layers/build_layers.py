"""Build the indicative vector layers of Gebiedscheck Assen (one GeoPackage per layer).

Every outline below is hand-drawn from public knowledge as a WGS84 (lon, lat) vertex list, with
a placement precision of a few hundred metres: INDICATIVE, never a legal boundary. The script
transforms the vertices to RD New (EPSG:28992), rounds them to 0.1 m, checks validity and the
spatial relations between the layers, and writes ``layers/vector/<slug>.gpkg`` with one table
``<slug>`` (MultiPolygon; columns name, site_number, note).

Run from the repository root:  .venv/bin/python layers/build_layers.py
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon

OUT_DIR = Path(__file__).resolve().parent / "vector"
RD_CRS = "EPSG:28992"
_TO_RD = Transformer.from_crs("EPSG:4326", RD_CRS, always_xy=True)

Ring = list[tuple[float, float]]


@dataclass(frozen=True)
class Feature:
    name: str
    ring: Ring  # WGS84 (lon, lat), open or closed
    note: str
    site_number: int | None = None


def to_rd(ring: Ring) -> Polygon:
    """Transform a WGS84 ring to an RD New polygon with coordinates rounded to 0.1 m."""
    xs, ys = _TO_RD.transform([p[0] for p in ring], [p[1] for p in ring])
    poly = Polygon([(round(x, 1), round(y, 1)) for x, y in zip(xs, ys, strict=True)])
    assert poly.is_valid, f"invalid polygon starting at {ring[0]}"
    return poly


# fmt: off
# Shared corner of binnenstad / havenkwartier / stadsbedrijvenpark (they touch, never overlap).
_BS_NE = [(6.5650, 52.9992), (6.5678, 52.9988), (6.5683, 52.9960)]

GEMEENTEGRENS = [
    (6.5620, 53.0440), (6.5800, 53.0420), (6.6000, 53.0385), (6.6160, 53.0300), (6.6290, 53.0200),
    (6.6350, 53.0080), (6.6355, 52.9950), (6.6325, 52.9815), (6.6220, 52.9675), (6.6040, 52.9640),
    (6.5840, 52.9570), (6.5640, 52.9510), (6.5420, 52.9520), (6.5200, 52.9490), (6.5080, 52.9460),
    (6.4880, 52.9470), (6.4660, 52.9490), (6.4600, 52.9600), (6.4690, 52.9735), (6.4890, 52.9855),
    (6.4880, 53.0000), (6.4870, 53.0110), (6.5000, 53.0185), (6.5160, 53.0205), (6.5330, 53.0290),
    (6.5480, 53.0380),
]
BINNENSTAD = [
    (6.5552, 52.9935), (6.5562, 52.9958), (6.5578, 52.9980), (6.5600, 52.9988), (6.5625, 52.9987),
    *_BS_NE, (6.5680, 52.9935), (6.5662, 52.9912), (6.5645, 52.9902), (6.5620, 52.9896),
    (6.5595, 52.9898), (6.5575, 52.9906),
]
PUBLIEKSHART = [
    (6.5585, 52.9947), (6.5595, 52.9959), (6.5611, 52.9966), (6.5626, 52.9960), (6.5639, 52.9946),
    (6.5646, 52.9930), (6.5634, 52.9922), (6.5616, 52.9927), (6.5599, 52.9935), (6.5584, 52.9940),
]
HAVENKWARTIER = [
    _BS_NE[2], (6.5702, 52.9955), (6.5728, 52.9962), (6.5745, 52.9978), (6.5748, 53.0000),
    (6.5738, 53.0022), (6.5715, 53.0036), (6.5688, 53.0040), (6.5665, 53.0032), (6.5652, 53.0015),
    _BS_NE[0], _BS_NE[1],
]
STADSBEDRIJVENPARK = [
    _BS_NE[2], (6.5700, 52.9942), (6.5740, 52.9942), (6.5772, 52.9955), (6.5795, 52.9980),
    (6.5800, 53.0010), (6.5790, 53.0045), (6.5765, 53.0068), (6.5730, 53.0080), (6.5695, 53.0078),
    (6.5665, 53.0066), (6.5643, 53.0050), (6.5633, 53.0025), (6.5638, 53.0003), _BS_NE[0], _BS_NE[1],
]
ZUIDOOST_ASSEN = [
    (6.5690, 52.9928), (6.5730, 52.9925), (6.5780, 52.9905), (6.5830, 52.9880), (6.5880, 52.9850),
    (6.5930, 52.9815), (6.5975, 52.9785), (6.6005, 52.9755), (6.6000, 52.9728), (6.5960, 52.9718),
    (6.5900, 52.9722), (6.5840, 52.9728), (6.5790, 52.9735), (6.5755, 52.9750), (6.5745, 52.9780),
    (6.5740, 52.9815), (6.5738, 52.9850), (6.5720, 52.9885), (6.5700, 52.9905),
]
WERKLANDSCHAP_ZUID = [
    (6.5608, 52.9604), (6.5614, 52.9646), (6.5639, 52.9670), (6.5686, 52.9672), (6.5717, 52.9654),
    (6.5722, 52.9615), (6.5701, 52.9593), (6.5655, 52.9588),
]
TRZ = [
    (6.5120, 52.9680), (6.5180, 52.9660), (6.5250, 52.9650), (6.5320, 52.9645), (6.5360, 52.9625),
    (6.5380, 52.9600), (6.5400, 52.9575), (6.5460, 52.9585), (6.5520, 52.9620), (6.5555, 52.9680),
    (6.5560, 52.9725), (6.5540, 52.9752), (6.5490, 52.9762), (6.5440, 52.9785), (6.5400, 52.9805),
    (6.5340, 52.9810), (6.5270, 52.9795), (6.5210, 52.9755), (6.5160, 52.9722),
]
KAZERNETERREIN = [
    (6.5300, 53.0000), (6.5310, 53.0035), (6.5340, 53.0048), (6.5380, 53.0046), (6.5405, 53.0030),
    (6.5410, 53.0000), (6.5395, 52.9982), (6.5360, 52.9978), (6.5320, 52.9983),
]
KLOOSTERVEEN = [
    (6.4920, 53.0050), (6.4935, 53.0095), (6.4960, 53.0130), (6.5000, 53.0148), (6.5040, 53.0140),
    (6.5085, 53.0120), (6.5120, 53.0095), (6.5125, 53.0060), (6.5100, 53.0035), (6.5060, 53.0022),
    (6.5010, 53.0018), (6.4960, 53.0025),
]
WINKELCENTRA = {
    "Winkelcentrum Kloosterveste": [
        (6.5195, 53.0002), (6.5197, 53.0017), (6.5212, 53.0021), (6.5228, 53.0016), (6.5226, 53.0003),
        (6.5214, 52.9997),
    ],
    "Winkelcentrum Marsdijk": [
        (6.5585, 53.0102), (6.5583, 53.0115), (6.5598, 53.0121), (6.5616, 53.0118), (6.5618, 53.0104),
        (6.5603, 53.0098),
    ],
    "Winkelcentrum Peelo": [
        (6.5735, 53.0133), (6.5736, 53.0146), (6.5752, 53.0150), (6.5766, 53.0144), (6.5764, 53.0132),
        (6.5749, 53.0128),
    ],
    "Winkelcentrum Assen-Oost (Vredeveld)": [
        (6.5836, 52.9953), (6.5834, 52.9966), (6.5849, 52.9970), (6.5866, 52.9966), (6.5867, 52.9954),
        (6.5852, 52.9949),
    ],
    "Winkelcentrum Pittelo": [
        (6.5547, 52.9824), (6.5546, 52.9836), (6.5560, 52.9839), (6.5574, 52.9834), (6.5572, 52.9823),
        (6.5559, 52.9820),
    ],
}
LARIKS = [
    (6.5350, 52.9905), (6.5360, 52.9930), (6.5380, 52.9950), (6.5412, 52.9960), (6.5450, 52.9958),
    (6.5490, 52.9954), (6.5520, 52.9942), (6.5528, 52.9918), (6.5525, 52.9896), (6.5498, 52.9886),
    (6.5462, 52.9880), (6.5420, 52.9872), (6.5382, 52.9870), (6.5352, 52.9882),
]
PITTELO = [
    (6.5475, 52.9868), (6.5505, 52.9876), (6.5545, 52.9878), (6.5580, 52.9872), (6.5592, 52.9850),
    (6.5594, 52.9815), (6.5600, 52.9790), (6.5588, 52.9778), (6.5555, 52.9774), (6.5515, 52.9777),
    (6.5485, 52.9790), (6.5468, 52.9810), (6.5462, 52.9840),
]
MESSCHENVELD = [
    (6.6025, 52.9700), (6.6030, 52.9760), (6.6040, 52.9810), (6.6080, 52.9828), (6.6130, 52.9822),
    (6.6175, 52.9800), (6.6190, 52.9750), (6.6180, 52.9705), (6.6140, 52.9682), (6.6080, 52.9678),
    (6.6040, 52.9685),
]
SCHEPERSMAAT = [
    (6.5918, 52.9720), (6.5925, 52.9760), (6.5955, 52.9776), (6.5995, 52.9772), (6.6020, 52.9750),
    (6.6018, 52.9718), (6.5990, 52.9703), (6.5950, 52.9704),
]
WITTERVELD = [
    (6.4700, 52.9560), (6.4690, 52.9610), (6.4720, 52.9660), (6.4770, 52.9700), (6.4840, 52.9712),
    (6.4910, 52.9705), (6.4975, 52.9685), (6.5030, 52.9650), (6.5055, 52.9600), (6.5045, 52.9550),
    (6.5000, 52.9515), (6.4930, 52.9498), (6.4850, 52.9497), (6.4780, 52.9510), (6.4725, 52.9530),
]
DRENTSCHE_AA = [  # west bank northward, the wider valley outside the municipality, east bank southward
    (6.6225, 52.9840), (6.6245, 52.9900), (6.6230, 52.9960), (6.6225, 53.0020), (6.6250, 53.0080),
    (6.6210, 53.0150), (6.6170, 53.0230), (6.6130, 53.0310), (6.6110, 53.0390), (6.6150, 53.0470),
    (6.6250, 53.0560), (6.6380, 53.0640), (6.6500, 53.0700), (6.6650, 53.0720), (6.6760, 53.0660),
    (6.6700, 53.0560), (6.6560, 53.0470), (6.6400, 53.0400), (6.6280, 53.0340), (6.6245, 53.0290),
    (6.6285, 53.0220), (6.6320, 53.0150), (6.6335, 53.0080), (6.6310, 53.0020), (6.6320, 52.9950),
    (6.6330, 52.9890), (6.6290, 52.9835),
]
FOCHTELOERVEEN = [
    (6.3615, 52.9841), (6.3670, 53.0006), (6.3758, 53.0149), (6.3890, 53.0237), (6.4055, 53.0259),
    (6.4198, 53.0193), (6.4308, 53.0072), (6.4352, 52.9929), (6.4308, 52.9786), (6.4198, 52.9687),
    (6.4033, 52.9643), (6.3868, 52.9654), (6.3725, 52.9709),
]
# fmt: on

N2000_NOTE = "indicatieve begrenzing, niet de officiële aanwijzing"
LAYERS: dict[str, list[Feature]] = {
    "gemeentegrens": [Feature("Gemeente Assen", GEMEENTEGRENS, "indicatieve gemeentegrens")],
    "binnenstad": [Feature("Binnenstad", BINNENSTAD, "centrum tussen spoor, Asserbos en Lariks")],
    "publiekshart": [Feature("Publiekshart", PUBLIEKSHART, "Koopmansplein, Kop van de Vaart en de Brink")],
    "havenkwartier": [Feature("Havenkwartier", HAVENKWARTIER, "Havenkanaal, kade en graansilo")],
    "zuidoost-assen": [Feature("Zuidoost Assen", ZUIDOOST_ASSEN, "station tot Schepersmaat, met ziekenhuis")],
    "werklandschap-assen-zuid": [Feature("Werklandschap Assen-Zuid", WERKLANDSCHAP_ZUID, "bij de A28 en Graswijk")],
    "trz": [Feature("Toeristisch Recreatieve Zone", TRZ, "grenst aan het TT Circuit, met Baggelhuizerplas")],
    "kazerneterrein": [
        Feature("Kazerneterrein (Johan Willem Friso kazerne)", KAZERNETERREIN, "kazerneterrein noordwest")
    ],
    "kloosterveen": [
        Feature("Doorontwikkeling Kloosterveen", KLOOSTERVEEN, "west van Kloosterveen, richting Norgervaart")
    ],
    "wijkwinkelcentra": [Feature(n, r, "centrum met directe omgeving") for n, r in WINKELCENTRA.items()],
    "wijkaanpak": [
        Feature("Lariks", LARIKS, "pilotwijk wijkaanpak"),
        Feature("Pittelo", PITTELO, "pilotwijk wijkaanpak"),
    ],
    "bedrijventerreinen": [
        Feature("Stadsbedrijvenpark", STADSBEDRIJVENPARK, "omvat het Havenkwartier"),
        Feature("Messchenveld", MESSCHENVELD, "bedrijventerrein zuidoost"),
        Feature("Schepersmaat/Mandemaat", SCHEPERSMAAT, "bedrijventerrein zuidoost"),
        Feature("Werklandschap Assen-Zuid", WERKLANDSCHAP_ZUID, "zelfde begrenzing als eigen laag"),
    ],
    "natura2000": [
        Feature("Witterveld", WITTERVELD, f"hoogveen; {N2000_NOTE}", 24),
        Feature(
            "Drentsche Aa-gebied",
            DRENTSCHE_AA,
            "uitsnede nabij Assen; het volledige gebied is ca. 10.000 ha",
            25,
        ),
        Feature("Fochteloërveen", FOCHTELOERVEEN, "buiten de gemeente; indicatieve begrenzing", 23),
    ],
}


def build() -> dict[str, gpd.GeoDataFrame]:
    frames: dict[str, gpd.GeoDataFrame] = {}
    for slug, features in LAYERS.items():
        geoms = [MultiPolygon([to_rd(f.ring)]) for f in features]
        frames[slug] = gpd.GeoDataFrame(
            {
                "name": [f.name for f in features],
                "site_number": pd.array([f.site_number for f in features], dtype="Int64"),
                "note": [f.note for f in features],
            },
            geometry=geoms,
            crs=RD_CRS,
        )
    return frames


def check(frames: dict[str, gpd.GeoDataFrame]) -> None:
    """Assert the spatial relations the layers promise (tolerance 1 m2 for 'no overlap')."""

    def geom(slug: str, name: str | None = None) -> MultiPolygon:
        gdf = frames[slug]
        return gdf.geometry.iloc[0] if name is None else gdf.loc[gdf["name"] == name].geometry.iloc[0]

    def disjoint(a: MultiPolygon, b: MultiPolygon, what: str) -> None:
        assert a.intersection(b).area < 1.0, f"{what} overlap"

    gemeente = geom("gemeentegrens")
    outside_ok = {("natura2000", "Fochteloërveen"), ("natura2000", "Drentsche Aa-gebied")}
    for slug, gdf in frames.items():
        assert all(g.is_valid and g.geom_type == "MultiPolygon" for g in gdf.geometry), slug
        for name, g in zip(gdf["name"], gdf.geometry, strict=True):
            if slug != "gemeentegrens" and (slug, name) not in outside_ok:
                assert g.within(gemeente), f"{slug}/{name} not inside the municipality"
    assert not geom("natura2000", "Fochteloërveen").intersects(gemeente)
    assert geom("publiekshart").within(geom("binnenstad"))
    disjoint(geom("havenkwartier"), geom("publiekshart"), "havenkwartier/publiekshart")
    disjoint(geom("havenkwartier"), geom("binnenstad"), "havenkwartier/binnenstad")
    assert geom("havenkwartier").within(geom("bedrijventerreinen", "Stadsbedrijvenpark"))
    disjoint(geom("wijkaanpak", "Lariks"), geom("wijkaanpak", "Pittelo"), "Lariks/Pittelo")
    disjoint(geom("natura2000", "Witterveld"), geom("trz"), "Witterveld/TRZ")
    assert geom("bedrijventerreinen", "Werklandschap Assen-Zuid").equals(geom("werklandschap-assen-zuid"))
    anchors = {  # (layer, WGS84 points that must lie in it, within 60 m)
        "zuidoost-assen": [(6.5830, 52.9800), (6.5790, 52.9760), (6.5697, 52.9922)],  # hospital, GGZ, NS
        "publiekshart": [(6.5607, 52.9961), (6.5590, 52.9947), (6.5635, 52.9930)],  # Koopmansplein etc.
        "trz": [(6.5400, 52.9720)],  # Baggelhuizerplas
    }
    for slug, points in anchors.items():
        for lon, lat in points:
            x, y = _TO_RD.transform(lon, lat)
            assert geom(slug).buffer(60).contains(gpd.points_from_xy([x], [y])[0]), (slug, lon, lat)
    for name, g in zip(frames["wijkwinkelcentra"]["name"], frames["wijkwinkelcentra"].geometry, strict=True):
        assert 2.0 <= g.area / 1e4 <= 5.0, f"{name}: {g.area / 1e4:.1f} ha"


def write(frames: dict[str, gpd.GeoDataFrame]) -> list[Path]:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OGR_CURRENT_DATE", "2025-01-01T00:00:00.000Z")  # reproducible GPKG timestamps
    paths = []
    for slug, gdf in frames.items():
        path = OUT_DIR / f"{slug}.gpkg"
        path.unlink(missing_ok=True)
        gdf.to_file(
            path,
            layer=slug,
            driver="GPKG",
            engine="pyogrio",
            geometry_type="MultiPolygon",
            dataset_options={"VERSION": "1.2"},
        )  # 1.2: readable by older GDAL/QGIS too
        paths.append(path)
    return paths


def main() -> None:
    frames = build()
    check(frames)
    paths = write(frames)
    print(f"{'slug':<26} {'feature':<46} {'area_ha':>9}")
    for slug, gdf in frames.items():
        for name, g in zip(gdf["name"], gdf.geometry, strict=True):
            print(f"{slug:<26} {name:<46} {g.area / 1e4:>9.1f}")
    print(f"wrote {len(paths)} GeoPackages to {OUT_DIR}")


if __name__ == "__main__":
    main()
