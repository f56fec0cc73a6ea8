# minescan: every target installs the project into .venv first when needed.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3
export MINESCAN_CACHE ?= $(CURDIR)/.cache
export MPLCONFIGDIR   := $(MINESCAN_CACHE)/matplotlib
export XDG_CACHE_HOME := $(MINESCAN_CACHE)/xdg

.PHONY: help install postgis browser test test-all lint format grid train scan monitor serve demo-store bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install minescan (reruns only when pyproject.toml changes)

# The newest PostgreSQL server installed under Debian's layout, e.g. 15 (empty when none).
PG_MAJOR = $(shell ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
APT_GET  = $(if $(filter 0,$(shell id -u)),,sudo -n) env DEBIAN_FRONTEND=noninteractive apt-get

postgis:  ## install PostgreSQL and its matching PostGIS from Debian's packages when missing
	@if [ -z "$(PG_MAJOR)" ]; then \
	  $(APT_GET) update -q && $(APT_GET) install -y -q --no-install-recommends postgresql; fi
	@major=$$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1); \
	if [ -z "$$major" ]; then echo "postgis: no PostgreSQL server after installing postgresql" >&2; exit 1; fi; \
	if [ ! -f /usr/share/postgresql/$$major/extension/postgis.control ]; then \
	  $(APT_GET) update -q && $(APT_GET) install -y -q --no-install-recommends postgresql-$$major-postgis-3; fi; \
	test -f /usr/share/postgresql/$$major/extension/postgis.control && \
	echo "postgis: PostgreSQL $$major with PostGIS is installed"

browser:  ## install Debian's chromium (headless browser tests) when missing
	@command -v chromium >/dev/null || { $(APT_GET) update -q && $(APT_GET) install -y -q --no-install-recommends chromium; }
	@command -v chromium >/dev/null && echo "browser: $$(chromium --version 2>/dev/null)"

test: $(STAMP)  ## run the test suite (network blocked, slow tests skipped)
	$(PY) -m pytest -q

test-all: $(STAMP)  ## run every test, slow ones included
	$(PY) -m pytest -q -m ''

lint: $(STAMP)  ## ruff check and format check
	$(BIN)/ruff check minescan tests benchmarks
	$(BIN)/ruff format --check minescan tests benchmarks

format: $(STAMP)  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix minescan tests benchmarks
	$(BIN)/ruff format minescan tests benchmarks

grid: $(STAMP)  ## grid cells from the example polygons into build/grid (no network)
	$(BIN)/minescan grid --polygons examples/mines_example.geojson --zooms 13,14,15 --out build/grid

train: $(STAMP)  ## train detector + screen on the simulated world (PROFILE=configs/quick.yaml; FORCE=1 ships to models/demo)
	$(BIN)/minescan train demo --build $(or $(TRAIN_DIR),build/train) \
	  $(if $(PROFILE),--config $(PROFILE)) $(if $(FORCE),--ship models/demo --force)

scan: $(STAMP)  ## the demo sweep: simulated world, shipped model, ~10,000 km2, no network
	$(BIN)/minescan scan --config configs/demo.yaml --out runs/demo

monitor: $(STAMP)  ## per-mine excavation history of a simulated mine growing 2017-2020 -> runs/monitor-demo
	$(BIN)/minescan monitor --growth configs/monitor-demo-growth.geojson \
		--start 2016-01-01 --end 2020-12-31 --out runs/monitor-demo

# The dashboard's demo: make scan's and make monitor's runs, and the store built from them.
DEMO_SCAN    ?= runs/demo
DEMO_MONITOR ?= runs/monitor-demo
DEMO_STORE   ?= runs/demo-store.gpkg

serve: $(STAMP)  ## serves a store built from the demo scan and monitor runs on 127.0.0.1:8000
	@test -f $(DEMO_SCAN)/manifest.json || $(MAKE) scan
	@test -f $(DEMO_MONITOR)/mines.csv || $(MAKE) monitor
	@test -f $(DEMO_STORE) || $(MAKE) --no-print-directory demo-store
	$(BIN)/minescan serve --store $(DEMO_STORE)

# Built aside and renamed, so a failed build leaves no half store for the next make serve.
demo-store:  ## the demo store: DEMO_SCAN (with previews), DEMO_MONITOR, Natural Earth countries
	rm -f $(DEMO_STORE).tmp.gpkg
	$(BIN)/minescan store ingest-scan $(DEMO_SCAN) --store $(DEMO_STORE).tmp.gpkg
	$(BIN)/minescan store ingest-monitor $(DEMO_MONITOR) --store $(DEMO_STORE).tmp.gpkg
	$(BIN)/minescan store boundaries natural-earth --kind country --name-column name \
	  --store $(DEMO_STORE).tmp.gpkg
	mv $(DEMO_STORE).tmp.gpkg $(DEMO_STORE)

bench: $(STAMP)  ## run every benchmark and print its figures
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:  ## remove build outputs (keeps .venv and models/)
	rm -rf build runs .pytest_cache .ruff_cache
