"""The tree shows the architecture: packages by role, imports pointing down only (issue 13).

Ranks, low to high: a module may import its own package and packages of a lower rank; packages of the same
rank (the three domain packages) never import each other. ``maps`` is the top-level map package: the doors use
it, it uses the domain. The CLI sits above the API only because ``gebiedscheck serve`` starts it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RANK = {
    "service.core": 0,
    "service.store": 1,
    "service.spatial": 2,
    "service.formats": 3,
    "service.loading": 4,
    "service.questions": 4,
    "service.ogc": 4,
    "maps": 5,
    "service.api": 6,
    "service.cli": 7,  # `serve` starts the HTTP door
}
WEB = ("fastapi", "starlette", "uvicorn")
MAX_LINES = 420


def package_of(module: str) -> str | None:
    for pkg in sorted(RANK, key=len, reverse=True):
        if module == pkg or module.startswith(pkg + "."):
            return pkg
    return None


def modules() -> list[tuple[str, Path]]:
    found = []
    for base in ("service", "maps"):
        for path in sorted((ROOT / base).rglob("*.py")):
            if "vendor" in path.parts or "node_modules" in path.parts:
                continue
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            found.append((name, path))
    return found


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every import, function-level ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [a.name for a in node.names]
            out.append((node.lineno, node.module, names))
            # "from service import heat" imports the module service.heat
            out.extend((node.lineno, f"{node.module}.{n}", []) for n in names if node.module in ("service", "maps"))
    return out


MODULES = modules()


def test_every_module_lives_in_a_package_by_role() -> None:
    loose = [name for name, _ in MODULES if name not in ("service", "maps") and package_of(name) is None]
    assert loose == [], f"modules outside the role packages: {loose}"
    assert not (ROOT / "service" / "layers").exists(), "service/layers would clash with the top-level layers/"


def not_down(name: str, path: Path) -> list[str]:
    """The imports of module ``name`` (file ``path``) that do not point down."""
    own = package_of(name)
    if own is None:  # service/__init__.py, maps/__init__.py
        return []
    wrong = []
    for line, module, _ in imports(path):
        target = package_of(module)
        if target is None or target == own:
            continue
        if RANK[target] >= RANK[own]:
            wrong.append(f"{path.name}:{line} imports {module} ({target} is not below {own})")
    return wrong


@pytest.mark.parametrize("name,path", MODULES, ids=[n for n, _ in MODULES])
def test_imports_point_down(name: str, path: Path) -> None:
    assert not_down(name, path) == []


@pytest.mark.parametrize("name,path", MODULES, ids=[n for n, _ in MODULES])
def test_the_domain_never_imports_the_web_framework(name: str, path: Path) -> None:
    if package_of(name) in ("service.api", "maps") or name == "service.cli.main":
        return  # the HTTP door; maps serves pages; `serve` starts uvicorn
    web = [f"{line}: {m}" for line, m, _ in imports(path) if m.split(".")[0] in WEB]
    assert web == [], f"{path.relative_to(ROOT)} imports the web framework"


def test_no_private_name_is_imported_across_modules() -> None:
    private = [
        f"{path.relative_to(ROOT)}:{line} from {module} import {n}"
        for _, path in MODULES
        for line, module, names in imports(path)
        if package_of(module)
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert private == []


def test_no_module_is_past_the_size_limit() -> None:
    big = {str(p.relative_to(ROOT)): n for _, p in MODULES if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: upward, sideways and function-level imports are found; downward ones are not."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from service.core.errors import NotFound\n"
        "from service.questions.zones import zones_at\n"
        "def f():\n    from service.loading import pipeline\n"
    )
    assert [w.split(" imports ")[1].split()[0] for w in not_down("service.store.bad", bad)] == [
        "service.questions.zones",
        "service.loading",
    ]
    assert not_down("service.questions.bad", bad) == [
        "bad.py:4 imports service.loading (service.loading is not below service.questions)"
    ]
    assert not_down("service.api.bad", bad) == []
