"""Geometry in and out: parsing locations and GeoJSON (WGS84 lat/lon or RD x/y, stored as EPSG:28992), the one
repair and validity report for requests and loads alike (PostGIS, under a time budget), and raster coverage
fractions. Imports ``service.core`` only (validation runs on a session it is given)."""
