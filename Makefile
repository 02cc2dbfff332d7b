# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make demo PROJECT=lines`: the handwritten number-line reader (CTC) instead of the digits.
PROJECT ?= digits
DEMO_DIR ?= $(if $(filter digits,$(PROJECT)),demo,demo-$(PROJECT))
PYTEST_ARGS ?=

.PHONY: demo test test-all lint format bench clean

# One pip call installs torch (pinned in pyproject.toml's [train] extra to the CPU build) with
# everything else. The base install alone (`pip install dlstack`) serves without torch.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[train]"
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[train,s3,postgres,dev]"
	@touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	@test -f $(DEMO_DIR)/dlstack.toml || $(BIN)/dlstack init $(DEMO_DIR) --from builtin:$(PROJECT)
	$(BIN)/dlstack run --project $(DEMO_DIR)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything, the slow and browser tests too.
test-all: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "" $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/train_throughput.py

clean:
	rm -rf demo demo-lines .pytest_cache .mypy_cache .ruff_cache bench/results
