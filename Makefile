# firstline — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: help venv system-deps lint typecheck pytest test demo synth bench scale-demo clean

help:
	@echo "make demo   - run firstline on a local sandbox region (no AWS account needed)"
	@echo "make test   - install what the tests need, lint, type-check and run every test"
	@echo "make synth  - synthesize the CDK app into infra/cdk.out/ (offline)"
	@echo "make bench  - run the benchmarks into benchmarks/results/"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# make bench needs half of what make test does (no CDK, linters or browser
# driver), which saves most of a minute on a clean clone; a venv made for the
# tests already has it all.
$(BENCH_STAMP): pyproject.toml
	if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then \
		touch $@; \
	else \
		$(PYTHON) -m venv $(VENV) && \
		$(PY) -m pip install --quiet --upgrade pip && \
		$(PY) -m pip install --quiet -e '.[bench]' && \
		touch $@; \
	fi

venv: $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy firstline flows tasks infra/relay sandbox deployments

pytest: venv system-deps
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

demo: venv system-deps
	$(PY) -m firstline.demo $(DEMO_ARGS)

scale-demo: venv system-deps
	PY=$(PY) bash scripts/scale-demo.sh $(DEMO_ARGS)

synth: venv
	bash infra/synth.sh

BENCH_ARGS ?=

bench: $(BENCH_STAMP) system-deps
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) infra/cdk.out .pytest_cache .mypy_cache .ruff_cache
