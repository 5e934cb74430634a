# The README's commands. Everything runs from the repository's own files, in .venv.
PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= cpu
SEED    ?= 0
# A run goes to runs/PROFILE (git-ignored, the CLI's default too); only `canonical` writes the committed run.
OUT     ?= runs/$(PROFILE)
SHARED  ?= ../shared/data
PY      := $(VENV)/bin/python

.PHONY: all setup latex run test lint canonical clean

## all: set up, then run the whole pipeline on the embedded dataset (PROFILE=cpu, 45–105 min on 2 cores; PROFILE=tiny, ~6 min)
all: setup run

## setup: a virtual environment with the pinned requirements and chocolib (editable), and LaTeX for the PDF report
setup: $(VENV)/.installed latex

LATEX_PACKAGES := texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc poppler-utils
## latex: XeLaTeX, pandoc and poppler (pdftotext) from apt on Debian/Ubuntu; elsewhere, what to install
latex:
	@if command -v xelatex >/dev/null && command -v pandoc >/dev/null && command -v pdftotext >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(LATEX_PACKAGES) >/dev/null; } \
	    || echo "make: apt could not install $(LATEX_PACKAGES); the report will be HTML only"; \
	elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
	  { sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(LATEX_PACKAGES) >/dev/null; } \
	    || echo "make: apt could not install $(LATEX_PACKAGES); the report will be HTML only"; \
	else echo "make: no apt-get: for the PDF report install XeLaTeX and pandoc (macOS: MacTeX and pandoc); without them the report is HTML only"; fi

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

## run: the pipeline on the embedded dataset (generated procedurally, no download)
run: setup
	$(PY) -m chocolib pipeline --profile $(PROFILE) --seed $(SEED) --out $(OUT)

## test: the test suite (unit tests + every notebook through papermill on the tiny profile)
test: setup
	$(PY) -m pytest -q

LINTED := chocolib tests benchmarks notebooks report/report.ipynb
## lint: Ruff's lint rules and its format check (pyproject.toml) over the code, the tests and the notebooks
lint: setup
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

## canonical: the committed run, on the IAPR 2025 twin with the real annotation, into the repository itself
canonical: setup
	$(PY) -m chocolib pipeline --profile cpu --data $(SHARED)/iapr2025-twin --annotations $(SHARED)/iapr2025/annotations/roboflow_yolo --dev-hard $(SHARED)/iapr2025-dev-hard --out .

clean:
	rm -rf runs .pytest_cache
