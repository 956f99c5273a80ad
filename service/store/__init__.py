"""The PostGIS store: engine and sessions, migrations and the geoalchemy2 models Alembic compares against, the
private embedded cluster, and the one home of "the version of a layer in force" (``current``: the
``gc_versions_in_force`` view, provenance and stored raster files). Also keys and the audit log (``access``),
the rate limit, time travel (``as_of``), backup and restore, and start-up housekeeping. Imports only
``service.core``."""
