#!/usr/bin/env bash
# Installs what Gebiedscheck Assen needs and is missing: PostGIS (and the GDAL tools) from Debian's
# packages when we may, and the Python packages into .venv. Idempotent and quiet when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -f /tmp/.gebiedscheck-apt-updated ]; then
        as_root apt-get update -qq && touch /tmp/.gebiedscheck-apt-updated
    fi
    as_root apt-get install -y -qq "$@" >/dev/null
}

# --- System packages: PostgreSQL + PostGIS, GDAL command-line tools -------------------------------
pg_major=""
for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && pg_major="$(basename "$(dirname "$d")")"
done
if command -v apt-get >/dev/null 2>&1; then
    missing=()
    if [ -z "$pg_major" ]; then
        pg_major=15
        missing+=("postgresql-$pg_major")
    fi
    if ! ls /usr/share/postgresql/"$pg_major"/extension/postgis.control >/dev/null 2>&1; then
        missing+=("postgresql-$pg_major-postgis-3")
    fi
    command -v gdalinfo >/dev/null 2>&1 || missing+=("gdal-bin")
    # The viewer's tests run in Debian's Chromium (never a downloaded browser); npm fetches the map assets.
    command -v chromium >/dev/null 2>&1 || missing+=("chromium" "chromium-driver")
    command -v npm >/dev/null 2>&1 || missing+=("npm")
    # The PDF report (WeasyPrint): Pango and a font; its tests read the PDF with poppler's pdftotext/pdftoppm.
    dpkg -s libpangoft2-1.0-0 >/dev/null 2>&1 || missing+=("libpangoft2-1.0-0")
    dpkg -s fonts-dejavu-core >/dev/null 2>&1 || missing+=("fonts-dejavu-core")
    command -v pdftotext >/dev/null 2>&1 || missing+=("poppler-utils")
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "bootstrap: installing ${missing[*]} (Debian packages)"
        apt_install "${missing[@]}" || echo "bootstrap: could not install ${missing[*]} (need root);" \
            "install them yourself, or set DATABASE_URL to a server with PostGIS, or use docker compose" >&2
    fi
else
    echo "bootstrap: no apt-get here; make sure PostgreSQL with PostGIS is available (or set DATABASE_URL)" >&2
fi

# --- Map assets: Leaflet and what Folium's pages load, from the npm registry (served by us, no CDN) ----
lock=maps/assets/package-lock.json
if [ ! -f maps/assets/node_modules/.package-lock.json ] || [ "$lock" -nt maps/assets/node_modules/.package-lock.json ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "bootstrap: installing the map assets (npm ci in maps/assets)"
        npm ci --prefix maps/assets --no-audit --no-fund --loglevel=error >/dev/null
    else
        echo "bootstrap: npm is missing; the map viewer needs maps/assets (npm ci)" >&2
    fi
fi

# --- Python packages ---------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# The exact versions of requirements.lock (scripts/lock.sh, `make lock`), as constraints: CI and every developer get
# the same releases, and `make audit` checks those. A change to pyproject.toml or to the lock reinstalls.
if [ ! -f requirements.lock ]; then
    echo "bootstrap: requirements.lock is missing; run 'make lock' to write it" >&2
    exit 1
fi
stamp="$VENV/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "bootstrap: installing Python packages into $VENV (versions of requirements.lock)"
    "$VENV/bin/pip" install -q -c requirements.lock --upgrade pip setuptools
    "$VENV/bin/pip" install -q -c requirements.lock -e ".[dev]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi

# ogctests, the OGC API conformance tests of tests/test_ogctests.py, in a venv of its own: it pins httpx<0.28
# (scripts/ogctests.lock), which the service's environment has outgrown. Installed here, never at test time.
OGC_VENV="${OGC_VENV:-.venv-ogctests}"
ogc_stamp="$OGC_VENV/.installed-$(sha256sum scripts/ogctests.lock | cut -c1-16)"
if [ ! -f "$ogc_stamp" ]; then
    echo "bootstrap: installing ogctests into $OGC_VENV (versions of scripts/ogctests.lock)"
    rm -rf "$OGC_VENV"
    "$PYTHON" -m venv "$OGC_VENV"
    "$OGC_VENV/bin/pip" install -q -r <(grep -v '^#' scripts/ogctests.lock)
    touch "$ogc_stamp"
fi
