#!/bin/sh
# Initialise the database (idempotent), load the default layers (unchanged files add no version), serve.
set -e
gebiedscheck db init
gebiedscheck layers load-defaults
exec gebiedscheck serve --host "${GEBIEDSCHECK_HOST:-0.0.0.0}" --port "${GEBIEDSCHECK_PORT:-8000}"
