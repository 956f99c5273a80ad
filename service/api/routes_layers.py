"""GET /layers and /layers/{slug}: the layer catalogue."""

from __future__ import annotations

from fastapi import APIRouter, Path

from service.api.deps import SessionDep
from service.api.params import error_responses
from service.core.schemas import LayerSummary, VersionSummary
from service.store import catalog

router = APIRouter(prefix="/layers", tags=["layers"], responses=error_responses(400))

SlugPath = Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Layer slug, e.g. 'havenkwartier'")


@router.get("", response_model=list[LayerSummary], summary="Every layer, the heat raster included")
def list_layers(session: SessionDep) -> list[LayerSummary]:
    return catalog.list_layers(session)


@router.get(
    "/{slug}",
    response_model=LayerSummary,
    summary="One layer with its current version",
    responses=error_responses(404, 422),
)
def get_layer(session: SessionDep, slug: str = SlugPath) -> LayerSummary:
    return catalog.get_layer(session, slug)


@router.get(
    "/{slug}/versions",
    response_model=list[VersionSummary],
    summary="The history of a layer, newest first",
    responses=error_responses(404, 422),
)
def layer_versions(session: SessionDep, slug: str = SlugPath) -> list[VersionSummary]:
    return catalog.layer_versions(session, slug)
