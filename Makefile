# rlth-runner. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Pinned because these are the builds this project is tested with (and the ones
# served offline on the dev machines); override to use another build.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
ARGS   ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test test-slow test-full bench tensorboard clean distclean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install rlth-runner with its dev extras

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

run: $(STAMP) ## Run the default experiment (pass overrides with ARGS="rounds=3 seed=1")
	$(BIN)/rlth-run $(ARGS)

test: $(STAMP) ## Run the fast tests
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-slow: $(STAMP) ## Run only the slow tests (real data, sweeps)
	@# pytest exits 5 when nothing is marked slow: not a failure
	$(BIN)/pytest -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-full: $(STAMP) ## Run every test, slow ones included
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP) ## Time rlth-runner against a plain PyTorch loop (BENCH_ARGS="--quick", "--device cuda", "--threads 1")
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

tensorboard: $(STAMP) ## Serve the curves of every run under outputs/
	$(BIN)/tensorboard --logdir outputs

clean: ## Remove run outputs and caches (keeps .venv)
	rm -rf outputs multirun .pytest_cache build dist src/*.egg-info
	find . -name __pycache__ -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean ## Also remove .venv
	rm -rf $(VENV)
