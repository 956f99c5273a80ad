"""CLI for GIS staff: load a file as a new layer version (with a dry run), the history, and rollback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli.common import cli_session, err, fail, nl, out, print_json, table
from service.core.dutch import AMSTERDAM, tijd
from service.core.errors import GebiedscheckError

AsJson = Annotated[bool, typer.Option("--json", help="Uitvoer als JSON (voor scripts).")]


def register(layers_app: typer.Typer) -> None:
    @layers_app.command("load")
    def load(
        file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage of gezipte Shapefile.")],
        layer: Annotated[str, typer.Option("--layer", "--laag", help="Laag (slug) die een nieuwe versie krijgt.")],
        create: Annotated[bool, typer.Option("--create", help="Maak de laag nieuw aan.")] = False,
        title: Annotated[str | None, typer.Option("--title", help="Titel van een nieuwe laag.")] = None,
        name_field: Annotated[str | None, typer.Option("--name-field", help="Veld met de naam.")] = None,
        gpkg_layer: Annotated[str | None, typer.Option("--gpkg-layer", help="Laag in de GeoPackage.")] = None,
        crs: Annotated[str | None, typer.Option("--crs", help="CRS als het bestand er geen noemt (EPSG:N).")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Alleen controleren en het verschil tonen.")] = False,
        note: Annotated[str | None, typer.Option("--note", help="Toelichting bij de versie.")] = None,
        provenance: Annotated[str | None, typer.Option("--provenance", help="Herkomst van deze versie.")] = None,
        official: Annotated[bool, typer.Option("--official", help="Officiële gegevens (niet indicatief).")] = False,
        repair: Annotated[
            bool, typer.Option("--repair", help="Ongeldige geometrie herstellen (ST_MakeValid) en melden.")
        ] = False,
        as_json: AsJson = False,
    ) -> None:
        """Laad een bestand als nieuwe versie van een laag; --dry-run laat zien wat er zou veranderen."""
        from service.loading.versions import DiffReport, load_file

        with cli_session() as (session, settings):
            try:
                with session.begin(), err.status(f"{file.name} controleren en laden…"):
                    result = load_file(
                        session,
                        file,
                        slug=layer,
                        create=create,
                        title=title,
                        name_field=name_field,
                        layer=gpkg_layer,
                        crs=crs,
                        note=note,
                        provenance=provenance,
                        official=official,
                        dry_run=dry_run,
                        settings=settings,
                        repair=repair,
                    )
            except GebiedscheckError as exc:
                err.print("De database is niet gewijzigd.")
                fail(exc)
        if as_json:
            return print_json(result)
        for r in result.repairs:
            out.print(
                f"[yellow]Hersteld:[/] {r['feature']}: {r['reason']}; oppervlakte "
                f"{nl(r['area_before_m2'])} → {nl(r['area_after_m2'])} m²"
            )
        if isinstance(result, DiffReport):
            table(
                f"Proefrun: {result.source_name} → laag {result.slug} (er is niets opgeslagen)",
                (
                    "objecten",
                    "oppervlakte (ha)",
                    "huidige versie",
                    "nieuw",
                    "vervallen",
                    "gewijzigd",
                    "gelijk",
                    "verschil oppervlakte (ha)",
                ),
                [
                    (
                        result.feature_count,
                        nl(result.total_area_m2 / 10_000, 1),
                        result.current_version or "–",
                        ", ".join(result.added) or "–",
                        ", ".join(result.removed) or "–",
                        ", ".join(result.changed) or "–",
                        result.unchanged,
                        "–" if result.area_change_m2 is None else nl(result.area_change_m2 / 10_000, 1),
                    )
                ],
            )
            return None
        state = "nieuwe versie" if result.status == "created" else "ongewijzigd (zelfde bestand)"
        out.print(f"Laag {result.slug}: versie {result.version}, {result.feature_count} objecten — {state}.")
        replica_line(session, settings)
        return None

    @layers_app.command("history")
    def history(slug: Annotated[str, typer.Argument(help="Laag (slug).")], as_json: AsJson = False) -> None:
        """De versies van een laag: wie, wanneer, welk bestand (sha256), hoeveel objecten."""
        from service.store.catalog import layer_versions

        with cli_session() as (session, _settings):
            try:
                versions = layer_versions(session, slug)
            except GebiedscheckError as exc:
                fail(exc)
        if as_json:
            return print_json(versions)
        table(
            f"Versies van {slug}",
            ("versie", "status", "wanneer", "door", "bestand", "sha256", "objecten", "toelichting"),
            [
                (
                    v.number,
                    "actueel" if v.status == "current" else "vervangen",
                    tijd(v.created_at),
                    v.created_by,
                    v.source_name,
                    v.source_sha256[:12],
                    v.feature_count,
                    v.note,
                )
                for v in versions
            ],
        )
        return None

    @layers_app.command("activate")
    def activate(
        slug: Annotated[str, typer.Argument(help="Laag (slug).")],
        number: Annotated[int, typer.Argument(help="Versienummer dat weer actueel wordt.")],
    ) -> None:
        """Maak een eerdere (of latere) versie weer actueel. Er wordt niets verwijderd."""
        from service.loading.versions import activate as do_activate

        with cli_session() as (session, settings):
            try:
                with session.begin():
                    v = do_activate(session, slug, number)
            except GebiedscheckError as exc:
                fail(exc)
            out.print(f"Laag {slug}: versie {v.number} ({v.source_name}) is weer actueel.")
            replica_line(session, settings)


def replica_line(session: Any, settings: Any) -> None:
    """After a committed load or activation, with a read replica configured: has it replayed the change?"""
    from service.store.replica import replica_after_load

    state = replica_after_load(session.get_bind(), settings)
    if state == "applied":
        out.print("Replica: bijgewerkt (vragen krijgen de nieuwe versie).")
    elif state == "pending":
        out.print(f"[yellow]Replica: volgt nog[/] (niet binnen {nl(settings.replica_wait_s)} s bijgewerkt).")


def register_keys(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="API-sleutels voor beheer (schrijven).", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def create(
        name: Annotated[str, typer.Option("--name", help="Voor wie of wat de sleutel is.")],
        role: Annotated[str, typer.Option("--role", help="Rol: beheer.")] = "beheer",
    ) -> None:
        """Maak een nieuwe sleutel; de laatste regel van de uitvoer is de sleutel zelf (bewaar hem goed)."""
        from service.store.access import create_key

        with cli_session() as (session, _settings):
            try:
                with session.begin():
                    key, secret = create_key(session, name=name, role=role)
            except GebiedscheckError as exc:
                fail(exc)
        err.print(f"Sleutel #{key.id} voor {key.name} (rol {key.role}); alleen de hash wordt bewaard:")
        print(secret)

    @keys_app.command("list")
    def list_(as_json: AsJson = False) -> None:
        """Toon de sleutels (zonder geheim)."""
        from service.store.access import list_keys

        with cli_session() as (session, _settings):
            keys = list_keys(session)
        if as_json:
            return print_json(keys)
        table(
            "API-sleutels",
            ("#", "naam", "rol", "begin", "aangemaakt", "ingetrokken"),
            [
                (
                    k.id,
                    k.name,
                    k.role,
                    k.key_prefix + "…",
                    f"{k.created_at.astimezone(AMSTERDAM):%d-%m-%Y}",
                    f"{k.revoked_at.astimezone(AMSTERDAM):%d-%m-%Y}" if k.revoked_at else "–",
                )
                for k in keys
            ],
        )
        return None

    @keys_app.command("revoke")
    def revoke(key_id: Annotated[int, typer.Argument(help="Nummer van de sleutel.")]) -> None:
        """Trek een sleutel in; hij werkt direct niet meer."""
        from service.store.access import revoke_key

        with cli_session() as (session, _settings):
            try:
                with session.begin():
                    key = revoke_key(session, key_id)
            except GebiedscheckError as exc:
                fail(exc)
        out.print(f"Sleutel #{key.id} ({key.name}) is ingetrokken.")
