"""Housekeeping (issue 11, L4): leftovers of a killed load go once they are old; nothing else is touched."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from service.store.housekeeping import MIN_AGE_S, clean_leftovers

OLD = time.time() - 2 * MIN_AGE_S  # older than the minimum age


def make(path: Path, size: int = 100, *, old: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    if old:
        os.utime(path, (OLD, OLD))
    return path


def age(path: Path) -> None:
    """Date a directory tree back (files first, then the directories, deepest first)."""
    for root, dirs, files in os.walk(path, topdown=False):
        for name in [*files, *dirs]:
            os.utime(os.path.join(root, name), (OLD, OLD), follow_symlinks=False)
    os.utime(path, (OLD, OLD))


def test_rasters_loaded_stay_orphans_go(session, settings, tmp_path, caplog) -> None:
    store = settings.raster_store
    referenced = {
        Path(p).name
        for (p,) in session.execute(text("SELECT raster_path FROM layer_versions WHERE raster_path IS NOT NULL"))
    }
    assert referenced, "the default layers load a raster"
    loaded = [store / name for name in referenced]
    for path in loaded:  # as old as an orphan: only being named by a version keeps them
        assert path.is_file()
        os.utime(path, (OLD, OLD))
    orphan = make(store / f"{'a' * 64}.tif", 1234)
    young_orphan = make(store / f"{'b' * 64}.tif", old=False)
    part = make(store / f"{'c' * 64}.tif.part", 55)
    young_part = make(store / f"{'d' * 64}.tif.part", old=False)
    foreign = [
        make(store / "notities.tif"),
        make(store / f"{'A' * 64}.tif"),  # not a lowercase sha256
        make(store / f"{'e' * 64}.tif.bak"),
        make(store / f"{'f' * 63}.tif"),
    ]
    outside = make(tmp_path / "elders.tif")
    link = store / f"{'9' * 64}.tif"
    link.symlink_to(outside)

    with caplog.at_level(logging.INFO, logger="service.store.housekeeping"):
        report = clean_leftovers(session, settings=settings, temp_dir=tmp_path / "tmp-leeg")

    assert report.removed_rasters == [orphan] and report.removed_parts == [part]
    assert not orphan.exists() and not part.exists()
    assert all(p.is_file() for p in loaded)
    assert young_orphan.exists() and young_part.exists()
    assert set(report.kept_young) >= {young_orphan, young_part}
    assert all(p.exists() for p in foreign) and link.is_symlink() and outside.exists()
    assert report.freed_bytes == 1234 + 55 and report.failed == []
    removals = [r.getMessage() for r in caplog.records if "housekeeping: removed " in r.getMessage()]
    assert len([m for m in removals if str(orphan) in m or str(part) in m]) == 2
    assert any("removed 0 temporary dir(s), 1 unreferenced raster(s), 1 partial raster(s)" in m for m in removals)
    for path in (young_orphan, young_part, *foreign, link):
        path.unlink()


def test_temp_dirs_old_go_fresh_and_foreign_stay(session, settings, tmp_path, monkeypatch, caplog) -> None:
    tmp = tmp_path / "tmp"
    killed = tmp / "gebiedscheck-upload-k1ll3d_9"
    make(killed / "upload.gpkg", 300)
    make(killed / "unzipped" / "laag.shp", 200)
    age(killed)
    stage = tmp / "gebiedscheck-stage-abc"
    make(stage / "a.tif", 10)
    age(stage)
    running = tmp / "gebiedscheck-zip-busy"  # an old directory with a fresh write: a load still at work
    make(running / "old.dbf")
    make(running / "deep" / "fresh.shp")
    age(running)
    os.utime(running / "deep" / "fresh.shp", None)  # written just now (the directories stay old)
    fresh = tmp / "gebiedscheck-raster-new"
    make(fresh / "x.tif", old=False)
    target = tmp_path / "someone-elses"
    make(target / "precious.txt")
    age(target)
    link = tmp / "gebiedscheck-gio-link"
    link.symlink_to(target, target_is_directory=True)
    not_ours = [tmp / "other-upload-abc", tmp / "gebiedscheck-uploads-abc", tmp / "gebiedscheck-upload-"]
    for d in not_ours:
        make(d / "f")
        age(d)
    plain_file = make(tmp / "gebiedscheck-raster-file")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # the default: tempfile.gettempdir()
    with caplog.at_level(logging.INFO, logger="service.store.housekeeping"):
        report = clean_leftovers(session, settings=settings)

    assert sorted(report.removed_temp_dirs) == sorted([killed, stage])
    assert not killed.exists() and not stage.exists()
    assert (running / "deep" / "fresh.shp").exists() and (fresh / "x.tif").exists()
    assert {running, fresh} <= set(report.kept_young)
    assert link.is_symlink() and (target / "precious.txt").exists()
    assert all(d.exists() for d in not_ours) and plain_file.exists()
    assert report.freed_bytes >= 300 + 200 + 10
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"removed temporary dir {killed}" in m for m in messages)
    assert any("removed 2 temporary dir(s)" in m for m in messages)

    # With no minimum age the fresh ones go too (never the symlink or the others).
    again = clean_leftovers(session, settings=settings, temp_dir=tmp, min_age_s=0, now=time.time() + 1)
    assert sorted(again.removed_temp_dirs) == sorted([running, fresh])
    assert link.is_symlink() and (target / "precious.txt").exists() and all(d.exists() for d in not_ours)


def test_negative_age_is_refused(session, settings) -> None:
    with pytest.raises(ValueError):
        clean_leftovers(session, settings=settings, min_age_s=-1)


def test_the_service_cleans_up_when_it_starts(settings, loaded, tmp_path, monkeypatch, caplog) -> None:
    """L4 end to end: the leftovers of a load killed with SIGKILL are gone once the service has started."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    upload = tmp_path / "gebiedscheck-upload-killed"
    make(upload / "plan.gpkg", 2048)
    age(upload)
    orphan = make(settings.raster_store / f"{'7' * 64}.tif", 4096)
    with caplog.at_level(logging.INFO, logger="service.store.housekeeping"), TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
    assert not upload.exists() and not orphan.exists()
    assert all(path.is_file() for path in settings.raster_store.glob("*.tif"))  # the loaded rasters stay
    assert any("gebiedscheck-upload-killed" in r.getMessage() for r in caplog.records)
