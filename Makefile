# The two commands: `make run` (start the app) and `make test` (lint + tests).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export PLAINSIGHT_DATA_DIR ?= ./data

.PHONY: run serve test install install-dev index bench bench-load clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0   # the pinned CPU wheel first, so nothing pulls a CUDA build
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

index: install   ## index corpus/ when the store is empty
	@$(VENV)/bin/plainsight docs list --json | $(PY) -c "import json,sys; sys.exit(0 if json.load(sys.stdin)['documents'] else 1)" \
	  || $(VENV)/bin/plainsight ingest corpus/

run: index
	$(VENV)/bin/streamlit run streamlit_app.py

serve: index   ## the HTTP API and the widget on http://127.0.0.1:8080 (docs at /docs)
	$(VENV)/bin/plainsight serve

test: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

bench: install-dev   ## ingest, warm ask and cold start at 1k-100k chunks (BENCH_ARGS="--sizes 1000" for a quick run)
	$(PY) -m bench $(BENCH_ARGS)

bench-load: install-dev   ## /v1/ask under 20 concurrent clients, embedded store and Chroma server
	$(PY) -m bench.load

clean:
	rm -rf $(VENV) data tests/artifacts
