# Every target installs what it needs into .venv first (idempotent: re-runs only when
# pyproject.toml or the lockfile changes). Versions come from requirements/dev.lock (hashes
# checked); `make lock` refreshes the lockfiles after a change to pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Market data for backtests: CTX_DATA_DIR / CTX_MARKETS_SNAPSHOT when set; otherwise a data
# folder beside the checkout (../shared/data) when there is one; otherwise user_data/data/kucoin
# (downloaded from KuCoin on first use when online).
SHARED_DATA := $(abspath ../shared/data)
ifeq ($(origin CTX_DATA_DIR),undefined)
ifneq ($(wildcard $(SHARED_DATA)/kucoin/*.json),)
export CTX_DATA_DIR := $(SHARED_DATA)/kucoin
endif
endif
ifeq ($(origin CTX_MARKETS_SNAPSHOT),undefined)
ifneq ($(wildcard $(SHARED_DATA)/kucoin-markets.json),)
export CTX_MARKETS_SNAPSHOT := $(SHARED_DATA)/kucoin-markets.json
endif
endif
# Evidence archives (news, Fear & Greed) for point-in-time backtests and their tests.
ifeq ($(origin CTX_NEWS_ARCHIVE),undefined)
ifneq ($(wildcard $(SHARED_DATA)/news/cryptonews.csv),)
export CTX_NEWS_ARCHIVE := $(SHARED_DATA)/news/cryptonews.csv
endif
endif
ifeq ($(origin CTX_SENTIMENT_ARCHIVE),undefined)
ifneq ($(wildcard $(SHARED_DATA)/sentiment/fear_and_greed.csv),)
export CTX_SENTIMENT_ARCHIVE := $(SHARED_DATA)/sentiment/fear_and_greed.csv
endif
endif

.DEFAULT_GOAL := help
.PHONY: help install lock test test-llm lint format bench backtest evaluate up down logs ps run clean

help:
	@echo "make backtest   real Freqtrade backtest of the strategy (embedded Redis, rules verdicts)"
	@echo "make evaluate   does the gate add value? gated vs ungated vs random gate vs buy-and-hold"
	@echo "make test       the test suite"
	@echo "make test-llm   the LLM path against a real local model server (llama.cpp, SmolLM2)"
	@echo "make lint       ruff check and format check"
	@echo "make bench      benchmarks (figures printed; --json in bench/*.py)"
	@echo "make up/down/logs/ps   Docker Compose: Redis, sidecar, bots"
	@echo "make run        without Docker: embedded Redis, sidecar and a Freqtrade dry-run"
	@echo "make lock       refresh the hash-locked requirements/*.lock from pyproject.toml"

install: $(STAMP)

$(STAMP): pyproject.toml requirements/dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

lock: install
	bash scripts/lock.sh

test: install
	@bash scripts/ensure-test-tools.sh || true
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Not part of `make test`: installs llama-cpp-python (built from source once, ~15 CPU-minutes,
# then a cached wheel) and a 135M-parameter model, and runs the sidecar's LLM path against
# `python -m llama_cpp.server` on loopback.
test-llm: install
	@bash scripts/install-test-llm.sh $(BIN)/python
	$(BIN)/python -m pytest tests/real_llm -m real_llm -v -s $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/synthesis.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/verdicts.py

backtest: install
	$(BIN)/python -m context_service backtest $(BACKTEST_ARGS)

up: install
	$(BIN)/python -m context_service fleet up

down: install
	$(BIN)/python -m context_service fleet down

logs: install
	$(BIN)/python -m context_service fleet logs

ps: install
	$(BIN)/python -m context_service fleet ps

run: install
	$(BIN)/python -m context_service fleet run-local

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

evaluate: install
	$(BIN)/python -m context_service evaluate $(EVALUATE_ARGS)
