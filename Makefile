# Two entry points (see README):
#   make quickstart   install into .venv, then synthetic connectome -> graph -> fused model + baseline -> figures/
#   make test         install into .venv with the dev tools, then lint and run every test and notebook
PYTHON ?= python3
# the project's one torch version: also environment.yml's pin (its CUDA build) and inside
# pyproject.toml's torch range (tests/test_environment.py checks that the three agree)
TORCH_VERSION ?= 2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
DATA ?= data/synthetic
RUNS ?= runs/quickstart
NEURONS ?= 2000
SEED ?= 0
QUICK_EPOCHS ?= 80
FIGURES ?= figures

.PHONY: install install-dev quickstart test lint clean benchmark

install: $(STAMP)
install-dev: $(DEV_STAMP)

# torch is installed first and pinned, so that nothing later pulls a different (CUDA) build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==$(TORCH_VERSION)"
	$(BIN)/pip install -q -e . "torch==$(TORCH_VERSION)"
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev]" "torch==$(TORCH_VERSION)"
	touch $(DEV_STAMP)

# The main job on the embedded default: the fused encoder (a quick profile: at most
# $(QUICK_EPOCHS) full-graph epochs, one seed) beside the logistic-regression baseline.
quickstart: $(STAMP)
	$(BIN)/python -m synhelpers synth --neurons $(NEURONS) --seed $(SEED) --out $(DATA)
	$(BIN)/python -m synhelpers build --tables $(DATA) --out $(DATA)/graph
	$(BIN)/python -m synhelpers baseline --graph $(DATA)/graph --out $(RUNS)/baseline
	$(BIN)/python -m synhelpers train --data $(DATA)/graph --model hybrid --label cell_class --max-epochs $(QUICK_EPOCHS) --out $(RUNS)/hybrid
	$(BIN)/python -m synhelpers figures --graph $(DATA)/graph --runs $(RUNS) --out $(FIGURES)
	@echo ""
	@echo "Quickstart done. The results:"
	@echo "  scores     $(RUNS)/hybrid/metrics.json and $(RUNS)/baseline/metrics.json (test macro-F1, per class)"
	@echo "  figures    $(FIGURES)/run_summary__*.png (fused model and baseline) and the graph's figures, PNG + SVG"
	@echo "  curves     tensorboard --logdir $(RUNS)"
	@echo "  data       $(DATA) (tables, synthetic.json with the ceiling) and $(DATA)/graph"
	@echo "  next       source $(BIN)/activate, then the README's stages; notebooks/00_quickstart.ipynb shows the same in Jupyter"

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	SYNHELPERS_PROFILE=small $(BIN)/python -m pytest --nbval -p no:cacheprovider

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_data.py

clean:
	rm -rf $(VENV) runs data/synthetic
