# The two commands: `make run` (start the app) and `make test` (lint + tests).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export PLAINSIGHT_DATA_DIR ?= ./data

.PHONY: run serve test install install-dev system-deps index bench bench-load clean

# Programs for OCR (scanned PDFs and images): Tesseract with English and Spanish, and Poppler.
SYSTEM_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa poppler-utils

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0   # the pinned CPU wheel first, so nothing pulls a CUDA build
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed system-deps
install-dev: $(VENV)/.installed-dev system-deps

system-deps:   ## the OCR programs, with apt-get when it is there and they are missing (sudo unless root)
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null 2>&1; then \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO="sudo"; \
	  echo "installing for OCR:" $$missing; \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } \
	    >/dev/null 2>&1 || echo "could not install $$missing: scanned PDFs and images will be refused until they are"; \
	fi

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
