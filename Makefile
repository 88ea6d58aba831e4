# flowlog-lambdas: `make demo` and `make test` are the two commands a newcomer needs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
CARGO ?= cargo
FLOWLOGS := target/debug/flowlogs

.PHONY: help demo test lint template unit invoke build deploy bench samples conformance tools
TOOLS := $(CURDIR)/.tools/venv/bin

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

demo: ## Analyze the bundled sample objects locally (no AWS account needed)
	$(CARGO) build --quiet --locked -p flowlogs
	@echo "== flowlogs analyze events/objects/*.log.gz"
	@$(FLOWLOGS) analyze events/objects/*.log.gz
	@echo
	@echo "== the same as JSON, floods only:  flowlogs analyze --json ... | floods"
	@$(FLOWLOGS) analyze --json events/objects/flood.log.gz \
	  | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["floods"], indent=2))'

test: lint template unit ## Run every test (formatting, lints, unit and end-to-end tests against a local moto server)
	tests/invoke-local.sh

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

template: ## Lint template.yaml (cfn-lint 1.53.3) and check its IAM, encryption and wiring (offline)
	tests/template/run.sh

unit: tools
	$(CARGO) test --locked --workspace

tools: ## Install the pinned tools the tests use (moto) into .tools/
	@scripts/tools.sh moto >/dev/null

invoke: ## Both functions on the sample events via cargo lambda, against a local moto server
	scripts/invoke-local.sh

build: ## Release Lambda binaries for arm64 with cargo-lambda (target/lambda/<function>/bootstrap)
	scripts/tools.sh cargo-lambda >/dev/null
	PATH="$(TOOLS):$$PATH" cargo lambda build --release --arm64 --locked -p rate-metrics -p flood-alert

deploy: ## Build with SAM and deploy the whole stack to your AWS account (asks for the settings once)
	scripts/tools.sh sam cargo-lambda >/dev/null
	PATH="$(TOOLS):$$PATH" sam build && PATH="$(TOOLS):$$PATH" sam deploy --guided

bench: ## Cost per format: CPU-s/GB of gzip (1 thread), 2-thread wall vs inflate-only, memory per source; polars and DuckDB on the same job
	PEERS=$$(scripts/tools.sh bench-peers) && \
	  $(CARGO) bench --locked -p flowlog-core --bench throughput -- --records 2000000 --peers "$$PEERS"
	$(CARGO) bench --locked -p flowlog-core --bench throughput -- --records 10000000 --runs 1 --objects v2

samples: ## Regenerate the sample objects in events/objects/
	$(CARGO) build --quiet --locked -p flowlogs
	FLOWLOGS=$(FLOWLOGS) scripts/make-samples.sh

conformance: ## Compare parses with the peer corpora in ../shared/conformance (not part of test)
	$(CARGO) build --quiet --locked -p flowlogs
	python3 scripts/conformance.py --strict
