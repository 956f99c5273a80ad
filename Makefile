# Gebiedscheck Assen — the two commands of the README are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint pytest bench layers clean-data

install:
	@bash scripts/bootstrap.sh

## Start the service with all default layers loaded, on http://$(HOST):$(PORT)
run: install
	$(BIN)/gebiedscheck db init
	$(BIN)/gebiedscheck layers load-defaults
	$(BIN)/gebiedscheck serve --host $(HOST) --port $(PORT)

## The whole test suite (lint, types, tests) against a throwaway PostGIS database
test: install lint pytest

lint:
	$(BIN)/ruff check service maps tests benchmarks layers
	$(BIN)/mypy

pytest:
	$(BIN)/pytest

## Side-by-side speed ratios (see benchmarks/README.md); adds the `bench` extra (tipg, from PyPI) to $(VENV) first
bench: install
	@stamp="$(VENV)/.bench-installed-$$(sha256sum pyproject.toml | cut -c1-16)"; \
	if [ ! -f "$$stamp" ]; then \
		echo "bench: installing the bench extra (tipg) into $(VENV)"; \
		$(BIN)/pip install -q -e ".[dev,bench]" && rm -f "$(VENV)"/.bench-installed-* && touch "$$stamp"; \
	fi
	$(BIN)/python benchmarks/run.py

## Redraw the indicative layers and the heat raster (changes their sha256: new versions on reload)
layers: install
	$(BIN)/python layers/build_layers.py
	$(BIN)/python layers/build_heat.py
