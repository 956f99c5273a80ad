"""The service app plus one constant-returning endpoint, for side-by-side throughput in one server."""

from __future__ import annotations

from service.api.app import create_app

app = create_app()


@app.get("/bench/constant")
def constant() -> dict[str, object]:
    """As cheap as an endpoint gets: the baseline the real questions are compared with."""
    return {"location": {"wgs84": {"lat": 53.0, "lon": 6.569}}, "zones": []}
