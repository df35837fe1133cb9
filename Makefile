# tailstorm: see README.md. `make chaos-spike` runs the main experiment, `make test` the tests.
# Every target bootstraps what it needs (.venv with Envoy and Locust; Prometheus via apt on Debian/Ubuntu).

VENV     ?= .venv
PYTHON   ?= python3
SCENARIO ?= chaos-spike
BACKEND  ?= local
RUNS_DIR ?= runs
PYTEST_ARGS ?=
BENCH_ARGS ?=
KIND_CLUSTER ?= tailstorm
NAMESPACE ?= tailstorm
IMAGE ?= tailstorm:0.1.0
MUTANTS_ARGS ?=

PY        := $(VENV)/bin/python
TAILSTORM := $(VENV)/bin/tailstorm
STAMP     := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup check-prometheus check-chromium chaos-spike run scenarios test fidelity bench bench-generator soak startups mutants clean distclean \
        check-tools cluster-up cluster-down images image-test deploy undeploy chart-values

##@ Getting started

help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z_-]+:.*##/ {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo ""
	@echo "  make <scenario>      any of: $(CATALOG)"
	@echo ""
	@echo "Variables: SCENARIO=$(SCENARIO) BACKEND=$(BACKEND) RUNS_DIR=$(RUNS_DIR) VENV=$(VENV) PYTHON=$(PYTHON)"
	@echo "           KIND_CLUSTER=$(KIND_CLUSTER) NAMESPACE=$(NAMESPACE) IMAGE=$(IMAGE)"

setup: $(STAMP) check-prometheus ## Create .venv, install packages and Envoy, install Prometheus if missing

$(STAMP): pyproject.toml deploy/scripts/ensure-venv.sh
	@PYTHON=$(PYTHON) deploy/scripts/ensure-venv.sh $(VENV)
	@touch $@

check-prometheus: ## Install Prometheus with apt when missing (Debian/Ubuntu), else say how
	@deploy/scripts/ensure-prometheus.sh

# Chromium only serves the report screenshot test: outside CI a missing browser skips that test.
check-chromium: ## Install headless Chromium with apt when missing (for the report screenshot test)
	@deploy/scripts/ensure-chromium.sh || [ "$(CI)" != "true" ]

##@ Cluster (kind; see README "On a kind cluster")

check-tools: ## Say what is missing or too old among docker, kind, kubectl and helm
	@deploy/scripts/check-tools.sh

cluster-up: $(STAMP) check-tools ## Create the kind cluster with metrics-server and prometheus-adapter
	@KIND_CLUSTER=$(KIND_CLUSTER) NAMESPACE=$(NAMESPACE) PYTHON=$(PY) deploy/scripts/cluster-up.sh

cluster-down: ## Delete the kind cluster
	kind delete cluster --name $(KIND_CLUSTER)

##@ Images

images: $(STAMP) ## Build the tailstorm image (services, Envoy, Locust) and kind-load it
	@IMAGE=$(IMAGE) KIND_CLUSTER=$(KIND_CLUSTER) PYTHON=$(PY) deploy/scripts/build-image.sh

image-test: setup ## Build the image from an offline debootstrap base on a private dockerd and run it (root, minutes)
	@deploy/scripts/ensure-docker.sh
	TAILSTORM_IMAGE_TEST=1 $(PY) -m pytest tests/deploy/cluster/test_image.py $(PYTEST_ARGS)

##@ Deploy

deploy: $(STAMP) ## Install SCENARIO's stack with Helm into the kind cluster, then helm test it
	@mkdir -p build && $(PY) -m deploy.cluster.values $(SCENARIO) > build/values-$(SCENARIO).yaml
	helm upgrade --install tailstorm deploy/helm/tailstorm --kube-context kind-$(KIND_CLUSTER) --namespace $(NAMESPACE) --create-namespace --values build/values-$(SCENARIO).yaml --wait --timeout 5m
	helm test tailstorm --kube-context kind-$(KIND_CLUSTER) --namespace $(NAMESPACE)

undeploy: ## Uninstall the release (the namespace stays)
	helm uninstall tailstorm --kube-context kind-$(KIND_CLUSTER) --namespace $(NAMESPACE) --wait

chart-values: $(STAMP) ## Regenerate the chart's generated parts (smoke values, Prometheus files, dashboard)
	$(PY) -m deploy.cluster.values --update-chart

##@ Experiments

chaos-spike: setup ## Run the chaos-spike scenario (BACKEND=local, or kind after make cluster-up images) and write a report under runs/
	$(TAILSTORM) run chaos-spike --runs-dir $(RUNS_DIR) --backend $(BACKEND)

run: setup ## Run SCENARIO (e.g. make run SCENARIO=smoke, BACKEND=kind)
	$(TAILSTORM) run $(SCENARIO) --runs-dir $(RUNS_DIR) --backend $(BACKEND)

scenarios: $(STAMP) ## List the scenario catalog (each runs as make <name>, its variants side by side)
	@$(TAILSTORM) scenarios

# make <scenario>: any catalog scenario, then each of its variants, with their pass criteria side by side
CATALOG := $(basename $(notdir $(wildcard loadtests/scenarios/*.yaml)))
.PHONY: $(filter-out chaos-spike,$(CATALOG))
$(filter-out chaos-spike,$(CATALOG)): setup
	$(TAILSTORM) run $@ --all-variants --runs-dir $(RUNS_DIR) --backend $(BACKEND)

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

bench-generator: setup ## Open-loop generator accuracy at 250..4000 req/s, 1 and N processes, next to wrk, hey and autocannon
	@deploy/scripts/ensure-bench-tools.sh .bench-tools
	$(PY) bench/generator.py $(BENCH_ARGS)

soak: setup ## Ten minutes of a retry storm: RSS and descriptors per replica and Envoy, no request lost
	$(PY) bench/soak.py --runs-dir $(RUNS_DIR)

startups: setup ## Start and stop the stack 200 times (2 side by side); no port ever shared
	$(PY) bench/startups.py --count 200 --concurrent 2

##@ Cleanup

clean: ## Stop processes of runs whose runner died (live runs are left alone), remove caches
	@if [ -x $(PY) ]; then $(PY) -m deploy.local.cleanup $(RUNS_DIR); fi
	rm -rf .pytest_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean ## Also remove .venv and every run directory
	rm -rf $(VENV) $(RUNS_DIR) .mutants
