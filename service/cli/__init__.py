"""The ``gebiedscheck`` command line: database, layers and keys for GIS staff, and the questions and maps for
planners. A door like ``service.api``: it may import every package below it and ``maps``; nothing imports
it."""

from service.cli.main import app

__all__ = ["app"]
