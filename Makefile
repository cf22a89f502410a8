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
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# aws-cdk-lib's built-in CloudFormation validation costs 3-6 s per synth and produced byte-identical
# templates in our measurements; cfn-lint runs on every template in the tests instead.
export CDK_VALIDATION := false
export CDK_DISABLE_CLI_TELEMETRY := true
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup demo app synth test lint typecheck bench cost assess clean

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

node_modules/.installed: package.json package-lock.json
	@command -v node >/dev/null || { echo "Node.js 20+ is required (node not found on PATH)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.synced node_modules/.installed ## create the venv and install the pinned CDK CLI

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
	  MYPYPATH=lambdas/$$fn:lambdas $(VENV)/bin/mypy --strict \
	    --cache-dir .mypy_cache/lambda-$$fn $$mods -m common.errors -m common.prompt_store -m common.templating -m common.xgboost_csv -m common.golden_sets -m common.safe_json \
	    || exit 1; \
	done

test: lint typecheck ## lint, type-check and run every test (unit, infra, e2e)
	$(VENV)/bin/pytest

bench: setup ## measure synth time (vs an empty app) and the test suite's wall time
	$(PY) -m scripts.bench

clean: ## remove build output (keeps the venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
