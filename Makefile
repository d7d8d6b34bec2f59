# Hivemind: `make demo` runs the pipeline on the embedded broker, `make test` runs every test.
# Both create the virtual environment (.venv) and install what they need on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PY      = $(BIN)/python
STAMP   = $(VENV)/.installed
BENCH_STAMP = $(VENV)/.installed-bench
CLAUDE_DIR ?= .cache/claude-code

.DEFAULT_GOAL := help
.PHONY: help venv demo up test tools test-unit test-integration bench eval check lint typecheck schemas claude-code promtool clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

venv: $(STAMP) ## create .venv and install Hivemind with its dev tools

demo: $(STAMP) ## run the whole pipeline on the embedded broker with a simulated fleet
	$(BIN)/hivemind demo

up: $(STAMP) ## run broker + stream jobs + sink until Ctrl-C
	$(BIN)/hivemind up

test: $(STAMP) tools ## run every test layer (unit, integration on the real broker, deploy checks)
	@$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

tools: ## best effort: promtool (Debian prometheus) and the Claude Code CLI (npm) for their tests
	-@$(MAKE) --no-print-directory promtool
	-@test -x $(CLAUDE_DIR)/node_modules/.bin/claude || $(MAKE) --no-print-directory claude-code

test-unit: $(STAMP) ## pure-logic tests only
	$(PY) -m pytest -q tests/unit

test-integration: $(STAMP) ## tests over the embedded broker and a temporary lake
	$(PY) -m pytest -q tests/integration

bench: $(BENCH_STAMP) ## throughput and latency figures, printed as ratios from one run (installs the bench extra: quixstreams)
	$(PY) -m bench

eval: $(STAMP) ## guard-corpus, attribution-simulator and red-team corpus rates
	$(PY) -m bench.eval

schemas: $(STAMP) ## regenerate schemas/generated/*.json from the contracts
	$(BIN)/hivemind schemas --write schemas/generated

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy -p hivemind_kafka

promtool: ## install promtool (Debian's prometheus package) if missing
	@command -v promtool >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null)

check: lint typecheck promtool ## ruff, mypy and promtool over deploy/
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/rules/*.yml
	promtool test rules deploy/prometheus/tests/*.yml

claude-code: ## install the real Claude Code CLI from npm into .cache (for the e2e test)
	mkdir -p $(CLAUDE_DIR) && npm install --silent --prefix $(CLAUDE_DIR) @anthropic-ai/claude-code

clean: ## stop the embedded broker and remove local state (.hivemind)
	-$(BIN)/hivemind broker stop
	rm -rf .hivemind
