"""One settings class for the whole service (environment prefix ``GEBIEDSCHECK_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/gebiedscheck"


class Settings(BaseSettings):
    """Configuration, read from the environment (and an optional ``.env`` file).

    ``DATABASE_URL`` (no prefix, the usual ``postgresql://user@host:port/db`` form) picks the database.
    When it is not set, the local PostgreSQL on 127.0.0.1:5432 is used, and when nothing answers there a
    private cluster is started from the local PostgreSQL + PostGIS binaries (see ``service.store.embedded``).
    """

    model_config = SettingsConfigDict(
        env_prefix="GEBIEDSCHECK_", env_file=".env", extra="ignore", populate_by_name=True
    )

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "GEBIEDSCHECK_DATABASE_URL")
    )
    read_database_url: str | None = Field(
        default=None,
        description="A streaming replica (hot standby) of DATABASE_URL: the questions, the OGC API and the tiles "
        "read from it; loads, keys, the audit log and the rate limit stay on DATABASE_URL. Unset: all on DATABASE_URL",
    )
    replica_wait_s: float = Field(
        default=10.0, ge=0, le=300, description="After a layer load, how long to wait for the replica to replay it"
    )
    replica_retry_s: float = Field(
        default=5.0, gt=0, le=3600, description="After the replica failed, reads go to the primary this long (s)"
    )
    layers_dir: Path = PROJECT_ROOT / "layers"
    data_dir: Path = PROJECT_ROOT / "data"
    embedded_port: int = 54329
    pg_bin_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, description="Worker processes of `gebiedscheck serve` (the service is stateless)")
    pool_size: int = Field(default=10, description="Database connections kept open per worker process")
    pool_pre_ping: bool = Field(default=False, description="Ping each pooled connection before use")
    statement_timeout_ms: int = Field(default=30_000, description="Timeout of every statement (504 past it)")
    generic_plan_from_rows: int = Field(
        default=100_000,
        ge=0,
        description="From this many stored feature parts, /zones/at runs with PostgreSQL's generic plan "
        "(service/store/generic.py); below it PostgreSQL chooses, as it does well there",
    )
    load_statement_timeout_ms: int = Field(
        default=600_000, description="Timeout of each statement of a layer load (its own transaction)"
    )
    log_level: str = "info"
    loaded_by: str = Field(default="gebiedscheck", description="Recorded as created_by of layer versions")
    # Questions
    heat_threshold_c: float = Field(
        default=1.5, description="Default UHI threshold (°C): cells at or above it count as hitte-eiland / hotspot"
    )
    natura2000_bands_m: list[float] = Field(
        default=[500.0, 1000.0, 5000.0, 25000.0],
        description="Upper edges (inclusive) of the indicative Natura 2000 distance bands; 25 km is AERIUS's range",
    )
    max_vertices: int = Field(default=250_000, description="Largest geometry accepted in a request (vertices)")
    max_body_bytes: int = Field(default=20_000_000, description="Largest request body accepted (bytes)")
    batch_limit: int = Field(default=1_000, description="Most features in one POST /check/batch")
    rate_limit_per_minute: int = Field(
        default=60, description="Requests a minute per client to heat overlap, check and batch (0: no limit)"
    )
    heavy_concurrency: int = Field(
        default=1, ge=1, description="Heavy questions (heat overlap, check, batch) run at once per worker process"
    )
    heavy_wait_s: float = Field(default=30.0, description="How long a heavy question waits for its turn (then 503)")
    nearby_distance_m: float = Field(
        default=500.0, description="Zones within this distance of a location or plan are named as nearby (m)"
    )
    # Hostile files and clients: every limit is checked before the work it bounds
    max_raster_cells: int = Field(
        default=1_000_000_000,
        description="Largest raster accepted for a load: width x height x bands, read from the header (the "
        "national 10 m UHI raster is ~910 M cells)",
    )
    max_load_features: int = Field(default=2_000_000, description="Most features in one vector layer file")
    max_load_vertices: int = Field(default=100_000_000, description="Most vertices in one vector layer file")
    max_zip_entries: int = Field(default=200, description="Most entries in an uploaded zip")
    max_zip_depth: int = Field(default=8, description="Deepest folder nesting in an uploaded zip")
    max_zip_name_length: int = Field(default=200, description="Longest entry name in an uploaded zip (characters)")
    body_timeout_s: float = Field(default=120.0, description="Time a client has to send a whole request body")
    body_idle_timeout_s: float = Field(default=15.0, description="Longest pause between two parts of a request body")
    header_timeout_s: float = Field(default=10.0, description="Time a client has to send a whole request head")
    keepalive_timeout_s: int = Field(default=5, description="Idle keep-alive connections are closed after this")
    max_header_bytes: int = Field(default=16_384, description="Largest request head (request line and headers)")
    graceful_shutdown_s: int = Field(default=20, description="On SIGTERM, how long running requests may finish")
    auth_failures_per_minute: int = Field(
        default=10, description="Wrong API keys a minute from one client before it gets 429"
    )
    validation_timeout_ms: int = Field(
        default=5_000, description="Time budget to validate (and repair) one geometry (422 'too complex' past it)"
    )
    tile_cache_mb: int = Field(
        default=512,
        ge=0,
        description="Vector tiles kept on disk under the data dir (tiles/), per layer version; the oldest go past "
        "this size. 0 turns the cache off (every tile built from the database).",
    )
    viewer_max_vertices: int = Field(
        default=300_000, description="Most vertices the public viewer page carries (simplified harder above it)"
    )
    locatieserver_url: str = Field(
        default="https://api.pdok.nl/bzk/locatieserver/search/v3_1",
        description="PDOK Locatieserver (suggest + lookup) for the viewer's search, called from the browser; "
        "empty: address search off (coordinates and our own zone names still work)",
    )
    # Maps
    basemap: str = Field(default="pdok", description="'pdok' (BRT-Achtergrondkaart grijs + standaard) or 'osm'")
    tile_url: str | None = Field(default=None, description="Own XYZ tile URL (replaces the basemap choice)")
    tile_attribution: str | None = Field(default=None, description="Attribution of tile_url")
    cors_origins: list[str] = Field(
        default=["*"], description="Origins allowed to read the API (the static viewer calls it from elsewhere)"
    )
    display_tolerance_m: float = Field(
        default=5.0, description="Topology-preserving simplification for display (m): about a pixel at zoom 15"
    )

    @field_validator("read_database_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def explicit_database(self) -> bool:
        return self.database_url is not None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or DEFAULT_DATABASE_URL

    @property
    def raster_store(self) -> Path:
        return self.data_dir / "rasters"


@lru_cache
def get_settings() -> Settings:
    return Settings()
