# tailstorm: see README.md. `make chaos-spike` runs the main experiment, `make test` the tests.
# Every target bootstraps what it needs (.venv with Envoy and Locust; Prometheus via apt on Debian/Ubuntu).

VENV     ?= .venv
PYTHON   ?= python3
SCENARIO ?= chaos-spike
RUNS_DIR ?= runs
PYTEST_ARGS ?=
MUTANTS_ARGS ?=

PY        := $(VENV)/bin/python
TAILSTORM := $(VENV)/bin/tailstorm
STAMP     := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup check-prometheus check-chromium chaos-spike run scenarios test fidelity bench mutants clean distclean

##@ Getting started

help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z_-]+:.*##/ {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo ""
	@echo "Variables: SCENARIO=$(SCENARIO) RUNS_DIR=$(RUNS_DIR) VENV=$(VENV) PYTHON=$(PYTHON)"

setup: $(STAMP) check-prometheus ## Create .venv, install packages and Envoy, install Prometheus if missing

$(STAMP): pyproject.toml deploy/scripts/ensure-venv.sh
	@PYTHON=$(PYTHON) deploy/scripts/ensure-venv.sh $(VENV)
	@touch $@

check-prometheus: ## Install Prometheus with apt when missing (Debian/Ubuntu), else say how
	@deploy/scripts/ensure-prometheus.sh

# Chromium only serves the report screenshot test: outside CI a missing browser skips that test.
check-chromium: ## Install headless Chromium with apt when missing (for the report screenshot test)
	@deploy/scripts/ensure-chromium.sh || [ "$(CI)" != "true" ]

##@ Experiments

chaos-spike: setup ## Run the chaos-spike scenario on the local backend and write a report under runs/
	$(TAILSTORM) run chaos-spike --runs-dir $(RUNS_DIR)

run: setup ## Run SCENARIO (e.g. make run SCENARIO=smoke)
	$(TAILSTORM) run $(SCENARIO) --runs-dir $(RUNS_DIR)

scenarios: $(STAMP) ## List the scenario catalog
	@$(TAILSTORM) scenarios

##@ Quality

test: setup check-chromium ## Run the test suite (hermetic: loopback only, free ports)
	$(PY) -m pytest $(PYTEST_ARGS)

fidelity: setup ## Long real-stack runs checked against theory (minutes)
	$(PY) -m pytest --run-fidelity -m fidelity $(PYTEST_ARGS)

# mutmut comes from the `mutation` extra, installed on first use only (make test does not need it).
mutants: $(STAMP) ## Mutation score per module of the pure core, with surviving mutants (cached; MUTANTS_ARGS=--fresh)
	@$(PY) -c 'import mutmut' 2>/dev/null || $(PY) -m pip install -q -e '.[test,mutation]'
	$(PY) tools/mutants.py $(MUTANTS_ARGS)

bench: setup ## Overhead of one hop through Envoy + FastAPI against a bare uvicorn endpoint
	$(PY) bench/hop_overhead.py

##@ Cleanup

clean: ## Stop processes left by a killed run, remove caches (keeps runs/ and .venv)
	@if [ -x $(PY) ]; then $(PY) -m deploy.local.cleanup $(RUNS_DIR); fi
	rm -rf .pytest_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean ## Also remove .venv and every run directory
	rm -rf $(VENV) $(RUNS_DIR) .mutants
