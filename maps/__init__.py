"""Folium map builders (overview map, check map), shared by the API, the CLI and the notebooks."""
