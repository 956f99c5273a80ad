"""Build hook: a wheel carries the map assets the service serves under /static/vendor (Leaflet, Folium's
scripts, Swagger UI, ...), so `pip install gebiedscheck_assen-*.whl` gives a working viewer.

At build time `build_py` puts the served files of the npm packages (maps/assets.py: VENDOR_DIRS and
SERVED_ELSEWHERE, less WHEEL_SKIP) into ``maps/vendor/`` of the build directory, in node_modules' layout. They come
from the npm registry: an existing ``maps/assets/node_modules`` is copied only when it holds exactly the versions
of ``maps/assets/package-lock.json`` (version and integrity of each served package), else ``npm ci --omit=dev`` runs
in a temporary directory. Nothing is committed, nothing comes from a CDN. ``GEBIEDSCHECK_BUILD_NPM=always``
forces the npm ci. An editable install (``make install``) uses the checkout's node_modules and copies nothing.
Everything else is in pyproject.toml.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "maps" / "assets"


def _assets_module() -> ModuleType:
    """maps/assets.py by its path (the build environment has none of the service's dependencies)."""
    spec = importlib.util.spec_from_file_location("_gebiedscheck_build_assets", HERE / "maps" / "assets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _matches_lock(node_modules: Path, packages: list[str]) -> bool:
    """Does ``node_modules`` (npm's hidden lock file) hold exactly the locked release of each package?"""
    try:
        locked = json.loads((ASSETS / "package-lock.json").read_text(encoding="utf-8"))["packages"]
        installed = json.loads((node_modules / ".package-lock.json").read_text(encoding="utf-8"))["packages"]
    except (OSError, KeyError, ValueError):
        return False
    for name in packages:
        key = f"node_modules/{name}"
        want, have = locked.get(key), installed.get(key)
        if not want or not have or any(want.get(f) != have.get(f) for f in ("version", "integrity")):
            return False
    return True


def _npm_ci(workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("building the wheel needs npm (the map assets come from the npm registry): install it")
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(ASSETS / name, workdir / name)
    cmd = [npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(cmd, cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    return workdir / "node_modules"


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install serves maps/assets/node_modules of the checkout
        assets = _assets_module()
        packages = sorted({d.removesuffix("/dist") for d in (*assets.VENDOR_DIRS.values(), *assets.SERVED_ELSEWHERE)})
        target = Path(self.build_lib) / "maps" / "vendor"
        shutil.rmtree(target, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix="gebiedscheck-npm-") as tmp:
            source = assets.CHECKOUT_NODE_MODULES
            if os.environ.get("GEBIEDSCHECK_BUILD_NPM") == "always" or not _matches_lock(source, packages):
                source = _npm_ci(Path(tmp))
            count = 0
            for rel in assets.served_files(source):
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / rel, target / rel)
                count += 1
        self.announce(f"map assets: {count} files of {len(packages)} npm packages into {target}", level=2)


setup(cmdclass={"build_py": BuildPyWithAssets})
