# ablate — the two commands a user needs: `make sweep` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXPERIMENT ?= experiments/pspnet_aux_weight.yaml
ARGS   ?=
WORKERS ?= 2

.PHONY: install sweep report ui test lint bench clean

# Idempotent: creates the virtual environment when missing, reinstalls when pyproject changes.
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

sweep: install
	$(BIN)/ablate sweep $(EXPERIMENT) --workers $(WORKERS) $(ARGS)

report: install
	$(BIN)/ablate report $(EXPERIMENT) $(ARGS)

ui: install
	$(BIN)/ablate ui $(ARGS)

test: install
	$(BIN)/python -m pytest -q $(ARGS)

lint: install
	$(BIN)/ruff check ablate tests bench
	$(BIN)/ruff format --check ablate tests bench

bench: install
	$(BIN)/python bench/tracking_overhead.py $(ARGS)

clean:
	rm -rf reports mlruns mlflow.db optuna.db .pytest_cache
