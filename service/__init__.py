"""Gebiedscheck Assen: geospatial planning service for the Omgevingsvisie areas of Assen."""

__version__ = "0.1.0"
