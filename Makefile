# Two entry points (see README):
#   make quickstart   install into .venv, then synthetic connectome -> graph -> quick model -> figures/
#   make test         install into .venv, then lint and run every test and notebook (small profile)
PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= data/synthetic
NEURONS ?= 2000
SEED ?= 0

.PHONY: install quickstart test lint figures clean benchmark

install: $(STAMP)

# torch is installed first and pinned, so that nothing later pulls a different (CUDA) build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==$(TORCH_VERSION)"
	$(BIN)/pip install -q -e . "torch==$(TORCH_VERSION)"
	touch $(STAMP)

quickstart: $(STAMP)
	$(BIN)/python -m synhelpers synth --neurons $(NEURONS) --seed $(SEED) --out $(DATA)
	$(BIN)/python -m synhelpers build --tables $(DATA) --out $(DATA)/graph
	$(BIN)/python -m synhelpers baseline --graph $(DATA)/graph --out runs/quickstart_baseline
	$(BIN)/python -m synhelpers figures --tables $(DATA) --graph $(DATA)/graph --runs runs --out figures

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	SYNHELPERS_PROFILE=small $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_data.py

clean:
	rm -rf $(VENV) runs data/synthetic
