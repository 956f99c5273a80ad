#!/bin/sh
# init:       create/migrate the database and load the default layers (idempotent), then stop.
# serve:      serve the API only (the public service, with a read-only database role).
# (default)   init, then serve.
set -e
case "${1:-all}" in
  init)
    gebiedscheck db init
    gebiedscheck layers load-defaults
    ;;
  serve)
    exec gebiedscheck serve --host "${GEBIEDSCHECK_HOST:-0.0.0.0}" --port "${GEBIEDSCHECK_PORT:-8000}"
    ;;
  *)
    gebiedscheck db init
    gebiedscheck layers load-defaults
    exec gebiedscheck serve --host "${GEBIEDSCHECK_HOST:-0.0.0.0}" --port "${GEBIEDSCHECK_PORT:-8000}"
    ;;
esac
