"""The layer manifest (``layers/manifest.toml``): what each default layer is and where its file lies."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from service.core.errors import ManifestError

Kind = Literal["vector", "raster"]
Category = Literal["omgevingsvisie", "natura2000", "klimaat", "referentie"]


class ManifestLayer(BaseModel):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    title: str
    kind: Kind = "vector"
    category: Category = "omgevingsvisie"
    file: str
    description: str
    policy_section: str | None = None
    policy_summary: str | None = None
    provenance: str
    indicative: bool = True
    gio: str | None = None
    gio_expression: str | None = None
    licence: str
    accuracy_m: float | None = None
    accuracy_note: str | None = None
    name_field: str = "name"
    id_field: str | None = None
    expected_features: int | None = None
    expected_area_ha: float | None = None
    unit: str | None = None

    def path(self, base: Path) -> Path:
        return (base / self.file).resolve()


class Manifest(BaseModel):
    omgevingsvisie: str
    omgevingsvisie_in_werking: str
    layers: list[ManifestLayer] = Field(alias="layer")

    def get(self, slug: str) -> ManifestLayer:
        for layer in self.layers:
            if layer.slug == slug:
                return layer
        raise KeyError(slug)


def read_manifest(layers_dir: Path) -> Manifest:
    path = layers_dir / "manifest.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"manifest not found: {path}", cause=exc) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest {path} is not valid TOML: {exc}", cause=exc) from exc
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"manifest {path} is invalid: {exc}", cause=exc) from exc
    slugs = [layer.slug for layer in manifest.layers]
    dupes = {s for s in slugs if slugs.count(s) > 1}
    if dupes:
        raise ManifestError(f"manifest {path} lists these slugs twice: {', '.join(sorted(dupes))}")
    return manifest
