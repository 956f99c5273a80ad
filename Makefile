# Gebiedscheck Assen — the two commands of the README are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint audit lock pytest bench layers clean-data

install:
	@bash scripts/bootstrap.sh

## Start the service with all default layers loaded, on http://$(HOST):$(PORT)
run: install
	$(BIN)/gebiedscheck db init
	$(BIN)/gebiedscheck layers load-defaults
	$(BIN)/gebiedscheck serve --host $(HOST) --port $(PORT)

## The whole test suite (lint, types, known vulnerabilities, tests) against a throwaway PostGIS database
test: install lint audit pytest

lint:
	$(BIN)/ruff check service maps tests benchmarks layers scripts
	$(BIN)/mypy

## pip-audit on requirements.lock against PyPI's vulnerability service; skips with one line when it is unreachable
audit: install
	$(BIN)/python scripts/audit.py

## Rewrite requirements.lock from pyproject.toml in a fresh temp venv (then `make install` applies it)
lock:
	@bash scripts/lock.sh

pytest:
	$(BIN)/pytest

## Side-by-side speed ratios (see benchmarks/README.md); adds the `bench` extra (tipg, from PyPI) to $(VENV) first
bench: install
	@stamp="$(VENV)/.bench-installed-$$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"; \
	if [ ! -f "$$stamp" ]; then \
		echo "bench: installing the bench extra (tipg) into $(VENV)"; \
		$(BIN)/pip install -q -c requirements.lock -e ".[dev,bench]" && rm -f "$(VENV)"/.bench-installed-* && touch "$$stamp"; \
	fi
	$(BIN)/python benchmarks/run.py

## Redraw the indicative layers and the heat raster (changes their sha256: new versions on reload)
layers: install
	$(BIN)/python layers/build_layers.py
	$(BIN)/python layers/build_heat.py
