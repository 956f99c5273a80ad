#!/usr/bin/env bash
# Writes requirements.lock: the exact version of every Python package that `pip install -e ".[dev]"` puts into a
# fresh venv (pip and setuptools included, the project itself excluded). Run it (`make lock`) after changing the
# dependencies of pyproject.toml, or to take newer releases; then `make install` brings .venv to the new lock and
# `make audit` checks it. The venv is built in a temp dir, so .venv is never touched here.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
out="${1:-requirements.lock}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "lock: resolving pyproject.toml's dependencies (with the dev extra) in a fresh venv"
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip setuptools
"$tmp/venv/bin/pip" install -q -e ".[dev]"

{
    echo "# The locked Python environment of Gebiedscheck Assen: pyproject.toml's dependencies with the dev extra,"
    echo "# resolved by scripts/lock.sh (make lock) with $("$tmp/venv/bin/python" -V) on $(uname -s)/$(uname -m)."
    echo "# make install installs with it as constraints; make audit checks it for known vulnerabilities."
    echo "# Do not edit by hand: change pyproject.toml and run make lock."
    "$tmp/venv/bin/pip" freeze --all --exclude-editable | grep -v -i -E '^(gebiedscheck[-_]assen)([ =@]|$)' \
        | LC_ALL=C sort -f
} >"$out.tmp"

# Only exact pins from an index: a local build (+label) or a direct URL could not be installed elsewhere.
if grep -v '^#' "$out.tmp" | grep -v -E '^[A-Za-z0-9._-]+==[A-Za-z0-9.!_-]+$'; then
    echo "lock: the lines above are not plain name==version pins from an index; not writing $out" >&2
    rm -f "$out.tmp"
    exit 1
fi
mv "$out.tmp" "$out"
echo "lock: wrote $out ($(grep -c -v '^#' "$out") packages)"
