"""The exception hierarchy maps to HTTP statuses (no database needed)."""

from service.errors import (
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
