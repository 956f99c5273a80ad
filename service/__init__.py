"""Gebiedscheck Assen: geospatial planning service for the Omgevingsvisie areas of Assen.

Packages by role, imports pointing down only (``tests/test_architecture.py`` keeps it so)::

    api, cli          the doors (HTTP, command line); may import maps and everything below
    maps              (top-level package) Folium/Leaflet maps, viewer and static maps
    questions | loading | ogc   the domain; siblings never import each other
    formats           hostile files: kinds, hardened GDAL, staging, readers
    spatial           geometry parsing and the one repair
    store             PostGIS: sessions, migrations, models, versions in force, keys, audit
    core              settings, errors, Dutch formatting, templates
"""

__version__ = "0.1.0"
