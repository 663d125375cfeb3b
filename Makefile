# The study's two commands:   make repro   (dvc repro)   and   make test   (pytest)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: repro test test-paper lint install clean-venv profile

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# the stages call papermill/jupyter/python: the venv's, whether or not it is activated
repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# switch the active profile: make profile P=smoke|cpu|gpu|paper  (copies profiles/P.yaml to params.yaml)
profile:
	@test -f profiles/$(P).yaml || { echo "unknown profile '$(P)'; known: $$(ls profiles | sed 's/.yaml//' | tr '\n' ' ')"; exit 2; }
	cp profiles/$(P).yaml params.yaml
	@echo "active profile: $(P) (params.yaml); run 'make repro'"

# one pytest worker per core (pytest-xdist); a module's tests stay on one worker, so the smoke
# pipeline (test_pipeline.py, most of the time) runs beside every other module
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadscope --no-loadscope-reorder

# the paper profile end to end on stand-in data in the real formats (~13 min, up to ~7 GB on 2 cores)
test-paper: $(STAMP)
	$(BIN)/python -m pytest -m paper_profile tests/test_paper_profile.py

lint: $(STAMP)
	$(BIN)/ruff check bnnlib tests

clean-venv:
	rm -rf $(VENV)
