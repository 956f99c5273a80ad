import nbformat as nbf
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SETUP = """from service.store.database import make_engine, make_sessionmaker
from service.store.embedded import resolve_database_url
from service.core.settings import get_settings

# The database: DATABASE_URL, or the local server, or the private cluster (as `make run` uses).
settings = get_settings()
settings = settings.model_copy(update={"database_url": resolve_database_url(settings)})
session = make_sessionmaker(make_engine(settings))()"""

q = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
q.cells = [
    new_markdown_cell(
        "# Quickscan van een initiatief\n\nEen planner controleert een initiatief: in welke gebieden "
        'van de Omgevingsvisie ligt het, wat vraagt de Omgevingsvisie daar ("ja, mits"), hoe ver is '
        "Natura 2000 en hoe heet is het er? Alle kaartlagen zijn **indicatief**."
    ),
    new_code_cell(SETUP),
    new_markdown_cell(
        "## Het initiatief\n\nEen vlak bij de Baggelhuizerplas, in de Toeristisch Recreatieve Zone "
        "(TRZ), als GeoJSON in WGS84."
    ),
    new_code_cell("""from service.spatial.geo import parse_geojson

initiatief = {
    "type": "Feature",
    "properties": {"name": "Glamping bij de plas", "kind": "recreatie"},
    "geometry": {"type": "Polygon", "coordinates": [[
        [6.535, 52.970], [6.545, 52.970], [6.545, 52.975], [6.535, 52.975], [6.535, 52.970]]]},
}
parsed = parse_geojson(initiatief)
print(f"{parsed.geom.area:,.0f} m²")"""),
    new_code_cell("""import pandas as pd

from service.questions.check import check

report = check(session, parsed, settings=settings)
pd.DataFrame([{"gebied": z.name, "laag": z.layer, "overlap (m²)": z.overlap_m2, "overlap (%)": z.overlap_pct,
               "Omgevingsvisie": z.policy.section, "wat er gevraagd wordt": z.policy.summary}
              for z in report.zones])"""),
    new_code_cell("""n = report.natura2000
print(f"Natura 2000: {n.nearest.name} (gebied {n.nearest.site_number}) op {n.distance_m:,.0f} m, {n.band.label}")
print(f"Hitte: gemiddeld {report.heat.mean_c:.2f} °C, {100 * report.heat.share_above:.1f}% boven {report.heat.threshold_c} °C")
for w in report.warnings:
    print("Let op:", w.message)"""),
    new_markdown_cell(
        "## De kaart\n\nHet initiatief, de gebieden die het raakt, de kortste lijn naar Natura 2000 "
        "en het hitte-eiland (scripts en stijlen zitten in de pagina zelf: geen CDN)."
    ),
    new_code_cell("""from maps.check_map import check_map
from maps.notebook import show

show(check_map(session, report, parsed.geom, settings=settings))"""),
]
nbf.write(q, "notebooks/quickscan.ipynb")

l = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
l.cells = [
    new_markdown_cell(
        "# Kaartlagen en hun versies\n\nVoor GIS-beheer: welke lagen zijn er, welke versie is actueel, "
        "waar komt elke versie vandaan (bestand en sha256) en hoe betrouwbaar is de laag? "
        "Het laden van nieuwe lagen komt met het beheer-issue."
    ),
    new_code_cell(SETUP),
    new_code_cell("""import pandas as pd

from service.store.catalog import layer_versions, list_layers

layers = list_layers(session)
pd.DataFrame([{"laag": la.slug, "titel": la.title, "soort": la.kind, "versie": la.version,
               "objecten": la.feature_count, "herkomst": la.provenance.label, "GIO": la.provenance.gio,
               "nauwkeurigheid (m)": la.provenance.accuracy_m} for la in layers])"""),
    new_code_cell("""versions = layer_versions(session, "havenkwartier")
pd.DataFrame([v.model_dump() for v in versions])"""),
    new_code_cell("""from sqlalchemy import text

# Oppervlakte per laag in de actuele versie (ha), berekend in EPSG:28992.
rows = session.execute(text(
    "SELECT l.slug, count(*) AS objecten, round((sum(ST_Area(f.geom)) / 10000)::numeric, 1) AS ha "
    "FROM features f JOIN layers l ON l.current_version_id = f.version_id GROUP BY l.slug ORDER BY l.slug"
)).all()
pd.DataFrame(rows, columns=["laag", "objecten", "ha"])"""),
]
l.cells += [
    new_markdown_cell("## Een laag laden: proefrun, laden, geschiedenis, terugdraaien\n\nEen nieuwe laag (referentie, "
                      "zodat de antwoorden over gebieden niet veranderen) krijgt twee versies uit kleine "
                      "testbestanden; daarna zetten we versie 1 terug. Er wordt nooit iets verwijderd."),
    new_code_cell('''from pathlib import Path

from service.core.settings import PROJECT_ROOT
from service.loading.versions import NewLayer, activate, create_layer, load_file

data = PROJECT_ROOT / "tests" / "data"
slug = "notebook-proef"
session.rollback()  # end the reads above: every write gets a transaction of its own
with session.begin():
    if not session.execute(text("SELECT 1 FROM layers WHERE slug = :s"), {"s": slug}).first():
        create_layer(session, NewLayer(slug=slug, title="Proef uit de notebook", category="referentie",
                                       provenance="indicatief — testbestand"))
    proef = load_file(session, data / "proefgebied.zip", slug=slug, name_field="naam", dry_run=True, settings=settings)
proef'''),
    new_code_cell('''session.rollback()
with session.begin():
    v1 = load_file(session, data / "proefgebied.zip", slug=slug, name_field="naam", note="eerste versie",
                   settings=settings)
with session.begin():
    v2 = load_file(session, data / "two_squares.gpkg", slug=slug, note="tweede versie", settings=settings)
pd.DataFrame([v.model_dump() for v in layer_versions(session, slug)])[["number", "status", "source_name", "feature_count", "note"]]'''),
    new_code_cell('''session.rollback()
with session.begin():
    activate(session, slug, 1)
pd.DataFrame([v.model_dump() for v in layer_versions(session, slug)])[["number", "status", "source_name", "feature_count", "note"]]'''),
]
nbf.write(l, "notebooks/laag-laden.ipynb")
