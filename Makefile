# flowlog-lambdas: `make demo` and `make test` are the two commands a newcomer needs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
CARGO ?= cargo
# Binaries are found by asking cargo (scripts/cargo-bin.sh), never at target/debug: CARGO_TARGET_DIR
# and the like move them.

.PHONY: help demo test lint template unit invoke build deploy bench cold-start samples conformance tools
TOOLS := $(CURDIR)/.tools/venv/bin

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

demo: ## Analyze the bundled sample objects locally (no AWS account needed)
	@scripts/demo.sh

test: ## Every test (lints, template, unit and end-to-end against local moto, demo, invoke), then a summary line
	@scripts/test.sh

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

template: ## Lint template.yaml (cfn-lint 1.53.3) and check its IAM, encryption and wiring (offline)
	tests/template/run.sh

unit: tools ## Unit, integration and end-to-end tests of every crate (cargo test)
	$(CARGO) test --locked --workspace --no-fail-fast

tools: ## Install the pinned tools the tests use (moto) into .tools/
	@scripts/tools.sh moto >/dev/null

invoke: ## Both functions on the sample events via cargo lambda, against a local moto server
	scripts/invoke-local.sh

build: ## Release Lambda binaries (all three functions) for arm64 with cargo-lambda (<target dir>/lambda/<function>/bootstrap)
	scripts/tools.sh cargo-lambda >/dev/null
	PATH="$(TOOLS):$$PATH" cargo lambda build --release --arm64 --locked -p rate-metrics -p flood-alert -p flood-response

deploy: ## Build with SAM and deploy the whole stack to your AWS account (asks for the settings once)
	scripts/tools.sh sam cargo-lambda >/dev/null
	PATH="$(TOOLS):$$PATH" sam build && PATH="$(TOOLS):$$PATH" sam deploy --guided

bench: ## Cost per format: CPU-s/GB of gzip (1 thread), 2-thread wall vs inflate-only, memory per source; polars and DuckDB on the same job
	PEERS=$$(scripts/tools.sh bench-peers) && \
	  $(CARGO) bench --locked -p flowlog-core --bench throughput -- --records 2000000 --peers "$$PEERS"
	$(CARGO) bench --locked -p flowlog-core --bench throughput -- --records 10000000 --runs 1 --objects v2

cold-start: ## Each function's time from exec to its first Runtime API request, and its size (release build for this machine)
	$(CARGO) build --release --locked --workspace --bin rate-metrics --bin flood-alert --bin flood-response
	release="$$(scripts/cargo-bin.sh --target-dir)/release" && \
	  python3 scripts/cold_start.py "$$release/rate-metrics" "$$release/flood-alert" "$$release/flood-response"

samples: ## Regenerate the sample objects in events/objects/
	scripts/make-samples.sh

conformance: ## Compare parses with the peer corpora in ../shared/conformance (not part of test)
	python3 scripts/conformance.py --strict
