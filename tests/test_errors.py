"""The exception hierarchy maps to HTTP statuses (no database needed)."""

from service.core.errors import (
    DatabaseUnavailable,
    GebiedscheckError,
    InvalidInput,
    LayerLoadError,
    ManifestError,
    NotFound,
    TooLarge,
    status_for,
)


def test_status_map() -> None:
    assert status_for(NotFound("x")) == 404
    assert status_for(InvalidInput("x")) == 422
    assert status_for(TooLarge("x")) == 413
    assert status_for(LayerLoadError("x")) == 422
    assert status_for(ManifestError("x")) == 422
    assert status_for(DatabaseUnavailable("x")) == 503
    assert status_for(GebiedscheckError("x")) == 500


def test_subclass_inherits_status() -> None:
    class Special(NotFound):
        pass

    assert status_for(Special("x")) == 404


def test_missing_data_and_cancelled_loads_are_named(session, settings, tmp_path) -> None:
    """A raster version whose file is gone is 'data missing' (503, naming the file), not 'database unavailable';
    an unknown key role is the caller's mistake (422), not a 500."""
    import pytest
    from sqlalchemy import text

    from service.core.errors import DataMissing, LoadCancelled
    from service.questions.heat import current_raster
    from service.store.access import create_key

    assert status_for(DataMissing("x")) == 503 and status_for(LoadCancelled("x")) == 503
    with pytest.raises(InvalidInput, match="unknown role 'admin'"):
        create_key(session, name="x", role="admin")
    elsewhere = settings.model_copy(update={"data_dir": tmp_path})  # a data dir without the raster store
    session.execute(text("UPDATE layer_versions SET raster_path = '/nergens/weg.tif' WHERE raster_path IS NOT NULL"))
    with pytest.raises(DataMissing, match="is missing"):
        current_raster(session, settings=elsewhere)
    session.rollback()
