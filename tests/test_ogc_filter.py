"""OGC API – Features Part 3: CQL2 filters (text and JSON), queryables, sortby, properties, datetime and CSV, on a
database of our own (the default layers; two shop centres given a missing and a mixed-type property)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.api.app import create_app
from service.core.settings import Settings
from service.ogc.features import EPSG
from service.store.database import make_engine
from tests.conftest import defaults_database, live_server

N2K = ["Drentsche Aa-gebied", "Fochteloërveen", "Witterveld"]
WITTERVELD_POINT = "POINT(6.48 52.96)"


@pytest.fixture(scope="module")
def fsettings(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with defaults_database(server_url, tmp_path_factory.mktemp("fdata"), "gebiedscheck_test_f_filter") as settings:
        engine = make_engine(settings)
        with engine.begin() as c:  # Peelo has no 'note'; 'code' is a number in Peelo and a string in Marsdijk
            c.execute(
                text(
                    "UPDATE features SET properties = (properties - 'note') || '{\"code\": 5}' "
                    "WHERE name = 'Winkelcentrum Peelo'"
                )
            )
            c.execute(
                text(
                    'UPDATE features SET properties = properties || \'{"code": "5"}\' '
                    "WHERE name = 'Winkelcentrum Marsdijk'"
                )
            )
        engine.dispose()
        yield settings


@pytest.fixture(scope="module")
def fengine(fsettings: Settings) -> Iterator[Any]:
    eng = make_engine(fsettings)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def client(fsettings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(fsettings), raise_server_exceptions=False) as c:
        yield c


def names(client: TestClient, slug: str = "natura2000", **params: Any) -> list[str]:
    r = client.get(f"/collections/{slug}/items", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return sorted(f["properties"]["name"] for f in r.json()["features"])


def prop(name: str) -> dict[str, str]:
    return {"property": name}


# (cql2-text, cql2-json, the expected natura2000 names)
OPERATORS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "TIMESTAMP('2020-01-01T00:00:00Z') < TIMESTAMP('2021-01-01T00:00:00Z')",
        {"op": "<", "args": [{"timestamp": "2020-01-01T00:00:00Z"}, {"timestamp": "2021-01-01T00:00:00Z"}]},
        N2K,
    ),
    (
        "DATE('2020-01-01') = DATE('2020-01-02')",
        {"op": "=", "args": [{"date": "2020-01-01"}, {"date": "2020-01-02"}]},
        [],
    ),
    ("site_number = 24", {"op": "=", "args": [prop("site_number"), 24]}, ["Witterveld"]),
    ("site_number <> 24", {"op": "<>", "args": [prop("site_number"), 24]}, ["Drentsche Aa-gebied", "Fochteloërveen"]),
    ("site_number < 25", {"op": "<", "args": [prop("site_number"), 25]}, ["Fochteloërveen", "Witterveld"]),
    ("site_number <= 24", {"op": "<=", "args": [prop("site_number"), 24]}, ["Fochteloërveen", "Witterveld"]),
    ("site_number > 23", {"op": ">", "args": [prop("site_number"), 23]}, ["Drentsche Aa-gebied", "Witterveld"]),
    ("site_number >= 25", {"op": ">=", "args": [prop("site_number"), 25]}, ["Drentsche Aa-gebied"]),
    ("23.5 < site_number", {"op": "<", "args": [23.5, prop("site_number")]}, ["Drentsche Aa-gebied", "Witterveld"]),
    ("name = 'Witterveld'", {"op": "=", "args": [prop("name"), "Witterveld"]}, ["Witterveld"]),
    ("name > 'G'", {"op": ">", "args": [prop("name"), "G"]}, ["Witterveld"]),
    ("id = 'witterveld'", {"op": "=", "args": [prop("id"), "witterveld"]}, ["Witterveld"]),
    ("indicatief = true", {"op": "=", "args": [prop("indicatief"), True]}, N2K),
    ("indicatief = false", {"op": "=", "args": [prop("indicatief"), False]}, []),
    ("name LIKE 'W%'", {"op": "like", "args": [prop("name"), "W%"]}, ["Witterveld"]),
    ("name LIKE '_itterveld'", {"op": "like", "args": [prop("name"), "_itterveld"]}, ["Witterveld"]),
    (
        "name NOT LIKE '%veen'",
        {"op": "not", "args": [{"op": "like", "args": [prop("name"), "%veen"]}]},
        ["Drentsche Aa-gebied", "Witterveld"],
    ),
    (
        "site_number IN (23, 25)",
        {"op": "in", "args": [prop("site_number"), [23, 25]]},
        ["Drentsche Aa-gebied", "Fochteloërveen"],
    ),
    (
        "name NOT IN ('Witterveld')",
        {"op": "not", "args": [{"op": "in", "args": [prop("name"), ["Witterveld"]]}]},
        ["Drentsche Aa-gebied", "Fochteloërveen"],
    ),
    (
        "site_number BETWEEN 24 AND 25",
        {"op": "between", "args": [prop("site_number"), 24, 25]},
        ["Drentsche Aa-gebied", "Witterveld"],
    ),
    (
        "site_number NOT BETWEEN 24 AND 25",
        {"op": "not", "args": [{"op": "between", "args": [prop("site_number"), 24, 25]}]},
        ["Fochteloërveen"],
    ),
    ("site_number IS NULL", {"op": "isNull", "args": [prop("site_number")]}, []),
    ("site_number IS NOT NULL", {"op": "not", "args": [{"op": "isNull", "args": [prop("site_number")]}]}, N2K),
    (
        "site_number = 24 OR site_number = 23",
        {
            "op": "or",
            "args": [{"op": "=", "args": [prop("site_number"), 24]}, {"op": "=", "args": [prop("site_number"), 23]}],
        },
        ["Fochteloërveen", "Witterveld"],
    ),
    (
        "name LIKE '%veen' AND site_number < 24",
        {
            "op": "and",
            "args": [{"op": "like", "args": [prop("name"), "%veen"]}, {"op": "<", "args": [prop("site_number"), 24]}],
        },
        ["Fochteloërveen"],
    ),
    (
        "NOT (site_number = 24)",
        {"op": "not", "args": [{"op": "=", "args": [prop("site_number"), 24]}]},
        ["Drentsche Aa-gebied", "Fochteloërveen"],
    ),
    (
        f"S_INTERSECTS(geometry, {WITTERVELD_POINT})",
        {"op": "s_intersects", "args": [prop("geometry"), {"type": "Point", "coordinates": [6.48, 52.96]}]},
        ["Witterveld"],
    ),
    (
        f"S_CONTAINS(geometry, {WITTERVELD_POINT})",
        {"op": "s_contains", "args": [prop("geometry"), {"type": "Point", "coordinates": [6.48, 52.96]}]},
        ["Witterveld"],
    ),
    (
        f"S_DISJOINT(geometry, {WITTERVELD_POINT})",
        {"op": "s_disjoint", "args": [prop("geometry"), {"type": "Point", "coordinates": [6.48, 52.96]}]},
        ["Drentsche Aa-gebied", "Fochteloërveen"],
    ),
    (
        "S_WITHIN(geometry, BBOX(6.3, 52.9, 6.6, 53.1))",
        {"op": "s_within", "args": [prop("geometry"), {"bbox": [6.3, 52.9, 6.6, 53.1]}]},
        ["Fochteloërveen", "Witterveld"],
    ),
    (
        "S_CROSSES(geometry, LINESTRING(6.40 52.96, 6.48 52.96))",
        {
            "op": "s_crosses",
            "args": [prop("geometry"), {"type": "LineString", "coordinates": [[6.40, 52.96], [6.48, 52.96]]}],
        },
        ["Witterveld"],
    ),
    (
        "S_OVERLAPS(geometry, POLYGON((6.48 52.94, 6.60 52.94, 6.60 52.96, 6.48 52.96, 6.48 52.94)))",
        {
            "op": "s_overlaps",
            "args": [
                prop("geometry"),
                {
                    "type": "Polygon",
                    "coordinates": [[[6.48, 52.94], [6.6, 52.94], [6.6, 52.96], [6.48, 52.96], [6.48, 52.94]]],
                },
            ],
        },
        ["Witterveld"],
    ),
]


@pytest.mark.parametrize(("cql", "cql_json", "expected"), OPERATORS, ids=[o[0] for o in OPERATORS])
def test_each_operator_in_text_and_json(client, cql: str, cql_json: dict[str, Any], expected: list[str]) -> None:
    assert names(client, filter=cql) == expected
    assert names(client, filter=cql, **{"filter-lang": "cql2-text"}) == expected
    assert names(client, filter=json.dumps(cql_json), **{"filter-lang": "cql2-json"}) == expected


def test_spatial_filters_agree_with_postgis_and_take_filter_crs(client, fengine) -> None:
    with fengine.connect() as c:
        rd = c.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(6.48, 52.96), 4326), 28992) p")
        ).one()
        direct = (
            c.execute(
                text(
                    "SELECT f.name FROM features f JOIN layers l ON l.current_version_id = f.version_id "
                    "WHERE l.slug = 'natura2000' AND ST_Intersects(f.geom, "
                    "ST_Transform(ST_MakeEnvelope(6.45, 52.9, 6.63, 53.0, 4326), 28992)) ORDER BY f.name"
                )
            )
            .scalars()
            .all()
        )
    assert direct == ["Drentsche Aa-gebied", "Witterveld"]
    assert names(client, filter="S_INTERSECTS(geometry, BBOX(6.45, 52.9, 6.63, 53.0))") == direct
    point = f"S_INTERSECTS(geometry, POINT({rd[0]:.2f} {rd[1]:.2f}))"
    assert names(client, filter=point, **{"filter-crs": EPSG.format(28992)}) == ["Witterveld"]
    # EPSG:4258 is latitude first: the same point written lat lon
    assert names(client, filter="S_INTERSECTS(geometry, POINT(52.96 6.48))", **{"filter-crs": EPSG.format(4258)}) == [
        "Witterveld"
    ]
    # the filter is AND-ed with bbox
    assert names(client, filter="site_number > 0", bbox="6.45,52.94,6.52,52.98") == ["Witterveld"]
    assert names(client, filter="site_number > 24", bbox="6.45,52.94,6.52,52.98") == []


def test_missing_and_mixed_type_properties(client) -> None:
    shops = "wijkwinkelcentra"
    assert names(client, shops, filter="note IS NULL") == ["Winkelcentrum Peelo"]
    assert len(names(client, shops, filter="note IS NOT NULL")) == 4
    assert names(client, shops, filter="code = 5") == ["Winkelcentrum Peelo"]  # the number, not the string "5"
    assert names(client, shops, filter="code = '5'") == ["Winkelcentrum Marsdijk"]
    assert names(client, shops, filter="code > 4") == ["Winkelcentrum Peelo"]
    q = client.get(f"/collections/{shops}/queryables").json()
    assert q["properties"]["code"]["type"] == ["integer", "string"]
    r = client.get("/collections/natura2000/items", params={"filter": "site_number = 'abc'"})
    assert r.status_code == 400 and "site_number" in r.json()["detail"] and "integer" in r.json()["detail"]


def deep_json(levels: int) -> str:
    doc: dict[str, Any] = {"op": "=", "args": [prop("name"), "a"]}
    for _ in range(levels):
        doc = {"op": "not", "args": [doc]}
    return json.dumps(doc)


HOSTILE: list[tuple[str, str, list[str] | None]] = [
    # (filter, language, the only correct 200 answer; None: any 200 answer is wrong, it must be a 400)
    ("name = 'x'' OR ''1''=''1'", "cql2-text", []),
    ("name = 'Witterveld' -- AND site_number = 1", "cql2-text", None),
    ("name = 'Witterveld' /* c */", "cql2-text", None),
    ("name = 'Witterveld'; DROP TABLE features", "cql2-text", None),
    ("name = 'Witterveld'); DELETE FROM features; --", "cql2-text", None),
    ("name = 'a''; DROP TABLE features; --'", "cql2-text", []),
    ("\"name; DROP TABLE features\" = 'a'", "cql2-text", None),
    ("bogus = 1", "cql2-text", None),
    ("name = 'Witterveld' OR 1 = 1", "cql2-text", N2K),  # true for every feature: all are a correct answer
    ("site_number = 1e400", "cql2-text", None),
    ("site_number = " + "9" * 400, "cql2-text", []),
    ("site_number IN (" + ",".join(str(i) for i in range(1001)) + ")", "cql2-text", None),
    ("site_number IN (" + ",".join(str(i) for i in range(100, 1100)) + ")", "cql2-text", []),
    ("(" * 200 + "name = 'a'" + ")" * 200, "cql2-text", None),
    ("NOT (" * 60 + "name = 'a'" + ")" * 60, "cql2-text", None),
    ("name = '" + "x" * 20_001 + "'", "cql2-text", None),
    ("S_INTERSECTS(geometry, LINESTRING(" + ",".join(f"6.{i:04d} 52.9" for i in range(1001)) + "))", "cql2-text", None),
    ("S_INTERSECTS(geometry, POLYGON((6 52, 7 53, 7 52, 6 53, 6 52)))", "cql2-text", None),  # a bow tie
    ("S_INTERSECTS(geometry, POINT(200 95))", "cql2-text", None),
    ("S_INTERSECTS(geometry, POINT EMPTY)", "cql2-text", None),
    ("S_INTERSECTS(name, POINT(6 52))", "cql2-text", None),
    ("S_DWITHIN(geometry, POINT(6 52), 10, meters)", "cql2-text", None),
    ("name = TIMESTAMP('2020-01-01T00:00:00Z')", "cql2-text", None),
    ("name LIKE 'W%\\'", "cql2-text", []),  # a pattern ending in the escape character: 400 or nothing
    ("site_number + 1 > 24", "cql2-text", None),
    ("", "cql2-text", None),
    (deep_json(100), "cql2-json", None),
    ('{"op": "=", "args": [1]}', "cql2-json", None),
    ('{"op": "between", "args": "x"}', "cql2-json", None),
    ('{"op": "drop table", "args": []}', "cql2-json", None),
    ("[]", "cql2-json", None),
    ('"name"', "cql2-json", None),
    ("null", "cql2-json", None),
    ("{not json", "cql2-json", None),
    (
        '{"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": "x"}]}',
        "cql2-json",
        None,
    ),
    (
        '{"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "GeometryCollection", "geometries": []}]}',
        "cql2-json",
        None,
    ),
    ('{"op": "=", "args": [{"property": "name\'; DROP TABLE features; --"}, "a"]}', "cql2-json", None),
]


@pytest.mark.parametrize(("cql", "lang", "correct"), HOSTILE, ids=[f"{i}-{h[0][:40]}" for i, h in enumerate(HOSTILE)])
def test_hostile_filters_are_400_or_correct(client, fengine, cql: str, lang: str, correct: list[str] | None) -> None:
    r = client.get("/collections/natura2000/items", params={"filter": cql, "filter-lang": lang, "limit": 1000})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        detail = r.json()["detail"]
        assert isinstance(detail, str) and 0 < len(detail) < 1200
    else:
        assert correct is not None, f"a 200 for a filter that must be refused: {r.text[:300]}"
        assert sorted(f["properties"]["name"] for f in r.json()["features"]) == correct
    with fengine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM features")).scalar_one() > 0  # every table still there


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"filter": "bogus = 1"}, ["bogus", "queryables", "site_number", "name"]),
        ({"filter": "name = "}, ["not valid cql2-text", "the filter ends too early at line 1, column"]),
        ({"filter": "name # 1"}, ["unexpected character '#' at line 1, column 6"]),
        ({"filter": "x" * 20_001}, ["20000"]),
        ({"filter": "site_number IN (" + ",".join("1" * 1001) + ")"}, ["1000"]),
        ({"filter": "name = 'a'", "filter-lang": "sql"}, ["filter-lang", "cql2-text"]),
        ({"filter": "name = 'a'", "filter-crs": "EPSG:3035"}, ["filter-crs", "not supported"]),
        ({"sortby": "bogus"}, ["bogus", "sortable", "site_number"]),
        ({"properties": "bogus"}, ["bogus", "site_number"]),
        ({"datetime": "gisteren"}, ["datetime", "gisteren"]),
        ({"datetime": "2026-12-31/2020-01-01"}, ["ends before it starts"]),
        ({"datetime": "2026-13-01"}, ["datetime"]),
        ({"datetime": "a/b/c"}, ["datetime"]),
        ({"f": "xml"}, ["f=", "not supported"]),
        ({"foo": "1"}, ["unknown query parameter", "foo"]),
    ],
)
def test_bad_parameters_name_the_problem(client, params: dict[str, str], words: list[str]) -> None:
    r = client.get("/collections/natura2000/items", params=params)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    for word in words:
        assert word in detail, detail


def test_queryables_describe_every_property(client) -> None:
    r = client.get("/collections/natura2000/queryables")
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    q = r.json()
    assert q["$schema"] == "https://json-schema.org/draft/2020-12/schema" and q["type"] == "object"
    assert q["$id"].endswith("/collections/natura2000/queryables") and q["title"]
    p = q["properties"]
    assert p["geometry"]["format"] == "geometry-multipolygon"
    assert p["name"]["type"] == "string" and p["site_number"]["type"] == "integer"
    assert p["note"]["type"] == "string" and p["indicatief"]["type"] == "boolean"
    feature = client.get("/collections/natura2000/items?limit=1").json()["features"][0]
    assert set(feature["properties"]) <= set(p)  # every property a feature has is a queryable
    assert all("title" in v for v in p.values())
    assert client.get("/collections/bestaat-niet/queryables").status_code == 404


def test_sortby(client) -> None:
    def order(sortby: str, slug: str = "natura2000") -> list[str]:
        r = client.get(f"/collections/{slug}/items?sortby={sortby}&limit=100")
        assert r.status_code == 200, r.text
        return [f["properties"]["name"] for f in r.json()["features"]]

    assert order("-site_number") == ["Drentsche Aa-gebied", "Witterveld", "Fochteloërveen"]
    assert order("site_number") == ["Fochteloërveen", "Witterveld", "Drentsche Aa-gebied"]
    assert order("%2Bsite_number") == order("+site_number") == order("site_number")  # '+' may arrive as a space
    assert order("name") == sorted(N2K) and order("-name") == sorted(N2K, reverse=True)
    shops = order("indicatief,-name", "wijkwinkelcentra")
    assert shops == sorted(shops, reverse=True) and len(shops) == 5
    # paging keeps the order: two pages of two, sorted descending
    first = client.get("/collections/natura2000/items?sortby=-site_number&limit=2").json()
    nxt = next(link["href"] for link in first["links"] if link["rel"] == "next")
    second = client.get(nxt.replace("http://testserver", "")).json()
    assert [f["properties"]["site_number"] for f in first["features"] + second["features"]] == [25, 24, 23]


def test_properties_subset_and_none(client) -> None:
    some = client.get("/collections/natura2000/items?properties=site_number,name").json()["features"]
    assert all(set(f["properties"]) == {"name", "site_number"} for f in some) and len(some) == 3
    none = client.get("/collections/natura2000/items?properties=").json()["features"]
    assert [f["properties"] for f in none] == [{}, {}, {}] and all(f["geometry"] for f in none)


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01",
        "2026-01-01T12:00:00Z",
        "2020-01-01/2026-12-31",
        "2020-01-01T00:00:00Z/2026-12-31T00:00:00Z",
        "../2026-12-31T00:00:00Z",
        "2020-01-01T00:00:00Z/..",
        "2020-01-01/",
    ],
)
def test_datetime_instants_and_intervals_match_every_feature(client, value: str) -> None:
    r = client.get("/collections/natura2000/items", params={"datetime": value})
    assert r.status_code == 200, r.text
    assert r.json()["numberMatched"] == 3


def test_as_of_is_time_travel_and_still_works(client) -> None:
    today = date.today().isoformat()
    assert client.get(f"/collections/natura2000/items?as_of={today}").json()["numberMatched"] == 3
    before = client.get("/collections/natura2000/items?as_of=2000-01-01")
    assert before.status_code == 422 and "before the first layer version" in before.json()["detail"]
    bad = client.get("/collections/natura2000/items?as_of=gisteren")
    assert bad.status_code == 400 and "as_of" in bad.json()["detail"]


def test_items_as_csv(client) -> None:
    from shapely import wkt

    r = client.get("/collections/natura2000/items?f=csv&sortby=name")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.decode("utf-8").count("Fochteloërveen") == 1
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["name"] for row in rows] == sorted(N2K)
    assert list(rows[0])[0] == "id" and list(rows[0])[-1] == "geometry" and "site_number" in rows[0]
    witterveld = next(row for row in rows if row["id"] == "witterveld")
    shape = wkt.loads(witterveld["geometry"])
    assert shape.geom_type == "MultiPolygon" and shape.contains(wkt.loads(WITTERVELD_POINT))
    assert witterveld["site_number"] == "24" and witterveld["indicatief"] == "true"
    rd = client.get(f"/collections/natura2000/items?f=csv&crs={EPSG.format(28992)}&filter=site_number=24")
    assert rd.headers["content-crs"] == f"<{EPSG.format(28992)}>"
    (only,) = list(csv.DictReader(io.StringIO(rd.text)))
    x, y = wkt.loads(only["geometry"]).geoms[0].exterior.coords[0]
    assert 220_000 < x < 240_000 and 540_000 < y < 565_000
    accept = client.get("/collections/natura2000/items?properties=name", headers={"Accept": "text/csv"})
    assert accept.headers["content-type"].startswith("text/csv")
    assert accept.text.splitlines()[0] == "id,name,geometry"


def test_owslib_gets_filtered_sorted_features(fsettings) -> None:
    from owslib.ogcapi.features import Features

    with live_server(create_app(fsettings)) as url:
        api = Features(f"{url}/")
        found = api.collection_items("natura2000", filter="site_number > 23", sortby=("site_number", "desc"))
        assert [f["properties"]["name"] for f in found["features"]] == ["Drentsche Aa-gebied", "Witterveld"]
        asc = api.collection_items("natura2000", filter="name LIKE '%e%'", sortby=("name", "asc"), limit=2)
        assert [f["properties"]["name"] for f in asc["features"]] == ["Drentsche Aa-gebied", "Fochteloërveen"]
        assert asc["numberMatched"] == 3


def test_property_types_are_read_once_per_version(client, fengine) -> None:
    """Regression: the cache key was overwritten by a loop variable, so every items request scanned the jsonb."""
    from service.ogc import queryables

    with fengine.connect() as c:
        v = c.execute(text("SELECT version_id FROM gc_versions_in_force WHERE slug = 'havenkwartier'")).scalar_one()
    queryables._cache.clear()
    client.get("/collections/havenkwartier/items", params={"filter": "name = 'Havenkwartier'"})
    assert [k[1] for k in queryables._cache] == [v]
