"""De opdrachtregel van Gebiedscheck Assen (``gebiedscheck``). Help text is Dutch, code English."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from service.cli.common import CliGroup, err, fail, out, resolved_settings, table
from service.core.errors import GebiedscheckError

app = typer.Typer(
    help="Gebiedscheck Assen: gebieden van de Omgevingsvisie, Natura 2000 en hitte-eiland.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=CliGroup,  # database errors of every command: one Dutch line and exit code 1 (service.cli.common)
)
db_app = typer.Typer(help="Database beheren.", no_args_is_help=True)
layers_app = typer.Typer(help="Kaartlagen laden en tonen.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(layers_app, name="layers")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Meer meldingen tonen.")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@db_app.command("init")
def db_init() -> None:
    """Maak de database aan (als die ontbreekt), de PostGIS-extensie en voer de migraties uit."""
    from service.store.database import init_database

    try:
        settings = resolved_settings()
        info = init_database(settings.effective_database_url)
    except GebiedscheckError as exc:
        fail(exc)
    state = "aangemaakt" if info["created"] else "bestond al"
    out.print(f"Database [bold]{info['database']}[/] {state}; PostGIS {info['postgis']}; migraties bijgewerkt.")


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="Het backupbestand (pg_dump, custom-formaat).", metavar="BESTAND")],
) -> None:
    """Maak een backup van de hele database (pg_dump -Fc). Een mislukte backup laat BESTAND ongemoeid."""
    from service.store.backup import backup_database, describe, format_size

    try:
        settings = resolved_settings()
        with err.status("Backup maken…"):
            result = backup_database(settings.effective_database_url, file, settings=settings)
    except GebiedscheckError as exc:
        fail(exc)
    c = result.contents
    note = "; vorige backup overschreven" if result.overwritten else ""
    out.print(f"Backup geschreven: [bold]{result.path}[/] ({format_size(result.size_bytes)}{note}).")
    out.print(f"Database {result.database}, schemaversie {c.revision}: {describe(c)}.")
    if c.rasters:
        out.print(
            f"[yellow]Let op:[/] de rasterbestanden ({len(c.rasters)}) staan niet in de backup maar in "
            f"{settings.raster_store}; bewaar die map mee."
        )


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="Een backup van `gebiedscheck db backup`.", metavar="BESTAND")],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Vervang een database die al gegevens bevat (pas nadat het terugzetten is gelukt)."
        ),
    ] = False,
) -> None:
    """Zet een backup terug in een lege (of nieuwe) database; --replace vervangt een gevulde.

    Dat gebeurt eerst in een tijdelijke database: gaat er iets mis, dan blijft de doeldatabase zoals ze was.
    """
    from service.store.backup import describe
    from service.store.restore import restore_database

    try:
        settings = resolved_settings()
        with err.status(f"{file.name} terugzetten…"):
            result = restore_database(settings.effective_database_url, file, replace=replace, settings=settings)
    except GebiedscheckError as exc:
        err.print("De database is niet gewijzigd.")
        fail(exc)
    if result.replaced is None:
        state = "nieuw aangemaakt"
    elif result.replaced.tables_with_data:
        state = f"vervangen, had {describe(result.replaced)}"
    else:
        state = "lege database vervangen"
    out.print(f"Backup {result.source.name} teruggezet in database [bold]{result.database}[/] ({state}).")
    migrated = f" (bijgewerkt van {result.migrated_from})" if result.migrated_from else ""
    out.print(f"Schemaversie {result.contents.revision}{migrated}: {describe(result.contents)}.")
    for warning in result.warnings:
        out.print(f"[yellow]Let op:[/] {warning}")
    for path in result.missing_rasters:
        out.print(
            f"[yellow]Let op:[/] rasterbestand ontbreekt: {path}. Zet de map met rasters terug "
            f"({settings.raster_store}) of laad het raster opnieuw (gebiedscheck layers load-defaults)."
        )


@layers_app.command("load-defaults")
def layers_load_defaults() -> None:
    """Laad alle standaardlagen uit layers/manifest.toml. Ongewijzigde bestanden geven geen nieuwe versie."""
    from rich.progress import Progress

    from service.loading.manifest import read_manifest
    from service.loading.pipeline import load_defaults
    from service.store.database import make_engine, session_scope

    try:
        settings = resolved_settings()
        engine = make_engine(settings)
        total = len(read_manifest(settings.layers_dir).layers)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("Lagen controleren", total=total)
            with session_scope(engine) as session:
                results = load_defaults(session, settings=settings, progress=lambda _slug: progress.advance(task))
        engine.dispose()
    except GebiedscheckError as exc:
        err.print("De database is niet gewijzigd.")
        fail(exc)
    table(
        "Standaardlagen geladen",
        ("laag", "soort", "versie", "objecten", "resultaat", "bestand"),
        [
            (
                r.slug,
                r.kind,
                r.version,
                r.feature_count,
                "nieuwe versie" if r.status == "created" else "ongewijzigd",
                r.source_name,
            )
            for r in results
        ],
    )


@layers_app.command("list")
def layers_list(
    as_json: Annotated[bool, typer.Option("--json", help="Uitvoer als JSON (voor scripts).")] = False,
) -> None:
    """Toon alle lagen met hun huidige versie en herkomst."""
    from service.store.catalog import list_layers
    from service.store.database import make_engine, make_sessionmaker

    try:
        settings = resolved_settings()
        engine = make_engine(settings)
        with make_sessionmaker(engine)() as session:
            layers = list_layers(session)
        engine.dispose()
    except GebiedscheckError as exc:
        fail(exc)
    if as_json:
        sys.stdout.write(
            json.dumps([layer.model_dump(mode="json") for layer in layers], indent=2, ensure_ascii=False) + "\n"
        )
        return
    table(
        "Kaartlagen",
        ("laag", "titel", "soort", "versie", "objecten", "herkomst"),
        [(la.slug, la.title, la.kind, la.version or "-", la.feature_count, la.provenance.label) for la in layers],
    )


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Adres om op te luisteren.")] = None,
    port: Annotated[int | None, typer.Option(help="Poort.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Aantal werkprocessen (standaard GEBIEDSCHECK_WORKERS, 1); de dienst is toestandloos."),
    ] = None,
) -> None:
    """Start de API (standaard op http://127.0.0.1:8000; documentatie op /docs)."""
    import os
    from typing import Any

    import uvicorn

    from service.api.app import create_app

    try:
        settings = resolved_settings()
    except GebiedscheckError as exc:
        fail(exc)
    from service.core.logs import log_config

    h, p, w = host or settings.host, port or settings.port, workers or settings.workers
    # Hostile clients: idle connections closed, request heads bounded in size and time (the protocol class,
    # by import path so that worker processes load it too; it reads its limits from the settings).
    limits: dict[str, Any] = {
        "log_config": log_config(settings.log_level),
        "timeout_keep_alive": settings.keepalive_timeout_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_graceful_shutdown": settings.graceful_shutdown_s,
        "http": "service.api.middleware:GuardedHttpToolsProtocol",
    }
    err.print(f"Gebiedscheck Assen draait op http://{h}:{p} (API-documentatie: http://{h}:{p}/docs)")
    if w > 1:
        # Each worker builds its own app from the environment: hand it the database resolved here.
        os.environ["DATABASE_URL"] = settings.effective_database_url
        uvicorn.run("service.api.app:create_app", factory=True, host=h, port=p, workers=w, **limits)
    else:
        uvicorn.run(create_app(settings), host=h, port=p, **limits)


from service.cli import questions as cli_questions  # noqa: E402  (registers the question commands)

cli_questions.register(app)
cli_questions.register_maps(app)

from service.cli import layers as cli_layers  # noqa: E402

cli_layers.register(layers_app)
cli_layers.register_keys(app)

if __name__ == "__main__":  # pragma: no cover
    app()
