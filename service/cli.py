"""De opdrachtregel van Gebiedscheck Assen (``gebiedscheck``). Help text is Dutch, code English."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from service.errors import GebiedscheckError
from service.settings import Settings, get_settings

app = typer.Typer(
    help="Gebiedscheck Assen: gebieden van de Omgevingsvisie, Natura 2000 en hitte-eiland.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database beheren.", no_args_is_help=True)
layers_app = typer.Typer(help="Kaartlagen laden en tonen.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(layers_app, name="layers")

out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    """Settings with the database resolved (DATABASE_URL, local server, or a private cluster)."""
    from service.embedded import resolve_database_url

    settings = get_settings()
    url = resolve_database_url(settings)
    return settings.model_copy(update={"database_url": url})


def _fail(exc: GebiedscheckError) -> None:
    err.print(f"[bold red]Fout:[/] {exc.detail}")
    raise typer.Exit(code=1)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Meer meldingen tonen.")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@db_app.command("init")
def db_init() -> None:
    """Maak de database aan (als die ontbreekt), de PostGIS-extensie en voer de migraties uit."""
    from service.database import init_database

    try:
        settings = _settings()
        info = init_database(settings.effective_database_url)
    except GebiedscheckError as exc:
        _fail(exc)
        return
    state = "aangemaakt" if info["created"] else "bestond al"
    out.print(f"Database [bold]{info['database']}[/] {state}; PostGIS {info['postgis']}; migraties bijgewerkt.")


@layers_app.command("load-defaults")
def layers_load_defaults() -> None:
    """Laad alle standaardlagen uit layers/manifest.toml. Ongewijzigde bestanden geven geen nieuwe versie."""
    from rich.progress import Progress

    from service.database import make_engine, session_scope
    from service.loading import load_defaults
    from service.manifest import read_manifest

    try:
        settings = _settings()
        engine = make_engine(settings)
        total = len(read_manifest(settings.layers_dir).layers)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("Lagen controleren", total=total)
            with session_scope(engine) as session:
                results = load_defaults(session, settings=settings, progress=lambda _slug: progress.advance(task))
        engine.dispose()
    except GebiedscheckError as exc:
        err.print("De database is niet gewijzigd.")
        _fail(exc)
        return
    table = Table(title="Standaardlagen geladen")
    for col in ("laag", "soort", "versie", "objecten", "resultaat", "bestand"):
        table.add_column(col)
    for r in results:
        table.add_row(
            r.slug,
            r.kind,
            str(r.version),
            str(r.feature_count),
            "nieuwe versie" if r.status == "created" else "ongewijzigd",
            r.source_name,
        )
    out.print(table)


@layers_app.command("list")
def layers_list(
    as_json: Annotated[bool, typer.Option("--json", help="Uitvoer als JSON (voor scripts).")] = False,
) -> None:
    """Toon alle lagen met hun huidige versie en herkomst."""
    from service.catalog import list_layers
    from service.database import make_engine, make_sessionmaker

    try:
        settings = _settings()
        engine = make_engine(settings)
        with make_sessionmaker(engine)() as session:
            layers = list_layers(session)
        engine.dispose()
    except GebiedscheckError as exc:
        _fail(exc)
        return
    if as_json:
        sys.stdout.write(
            json.dumps([layer.model_dump(mode="json") for layer in layers], indent=2, ensure_ascii=False) + "\n"
        )
        return
    table = Table(title="Kaartlagen")
    for col in ("laag", "titel", "soort", "versie", "objecten", "herkomst"):
        table.add_column(col)
    for layer in layers:
        table.add_row(
            layer.slug,
            layer.title,
            layer.kind,
            str(layer.version or "-"),
            str(layer.feature_count),
            layer.provenance.label,
        )
    out.print(table)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Adres om op te luisteren.")] = None,
    port: Annotated[int | None, typer.Option(help="Poort.")] = None,
) -> None:
    """Start de API (standaard op http://127.0.0.1:8000; documentatie op /docs)."""
    import uvicorn

    from service.api.app import create_app

    try:
        settings = _settings()
    except GebiedscheckError as exc:
        _fail(exc)
        return
    h, p = host or settings.host, port or settings.port
    err.print(f"Gebiedscheck Assen draait op http://{h}:{p} (API-documentatie: http://{h}:{p}/docs)")
    uvicorn.run(create_app(settings), host=h, port=p, log_level=settings.log_level)


if __name__ == "__main__":  # pragma: no cover
    app()
