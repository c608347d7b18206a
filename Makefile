# Nexus — the commands a newcomer needs. `make help` lists them.
#   make dev    start a local control plane with the CRDs, the example org and the controller
#   make test   every test: generated files, lint, unit, GitOps health checks, chart, e2e
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
REPO := $(CURDIR)
# Separate control planes, so `make test` never disturbs a running `make dev`.
DEV_CLUSTER ?= $(REPO)/.nexus/cluster
E2E_CLUSTER ?= $(REPO)/.nexus/e2e-cluster
BENCH_CLUSTER ?= $(REPO)/.nexus/bench-cluster
BENCH_ENTITIES ?= 10000
BENCH_READ_CLUSTER ?= $(REPO)/.nexus/bench-read-cluster
BENCH_READ_ENTITIES ?= 100000
# Extra nexus-ingest-bench flags, e.g. BENCH_INGEST_ARGS="--concurrency 64 --latency-rate 100".
BENCH_INGEST_ARGS ?=
# Extra nexus-read-bench flags, e.g. BENCH_READ_ARGS="--scenario search,get --max-seconds 5".
BENCH_READ_ARGS ?=
K8S_BIN = $(shell hack/build-k8s.sh path)
DEV_AGGREGATED_PORT ?= 8443
DEV_PORTAL_PORT ?= 9443
DEV_APISERVER_METRICS_PORT ?= 9090
DEV_KEY = $(DEV_CLUSTER)/dev-auth/signing-key.pem
comma := ,
# The portal (portal/, React + Vite) is built with npm when it is on the PATH; make dev then serves
# it from nexus-apiserver. Browser tests use a control plane of their own.
HAVE_NPM := $(shell command -v npm >/dev/null 2>&1 && echo yes)
PORTAL_CLUSTER ?= $(REPO)/.nexus/portal-cluster
PORTAL_SOURCES := $(shell find portal/src portal/public -type f 2>/dev/null) portal/index.html portal/vite.config.ts portal/tsconfig.json
# `make dev-token USER=…`: USER is also the login name in the environment, so read it only
# when given on the command line.
USER_NAME = $(if $(filter command line,$(origin USER)),$(USER),)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## Build (once, cached by version) etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, helm, kwok
	hack/build-k8s.sh all >/dev/null

.PHONY: build
build: ## Build the controller, the CRD generator and the benchmark
	$(CARGO) build --workspace --bins

.PHONY: crds
crds: ## Regenerate crds/, charts/nexus/crds/ and docs/crds.md from the Rust types
	$(CARGO) run -q -p nexus-api --bin crdgen

.PHONY: verify-crds
verify-crds: ## Fail if the generated CRDs or their reference differ from the Rust types
	$(CARGO) run -q -p nexus-api --bin crdgen -- --check

.PHONY: fmt
fmt: ## Format the Rust code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## rustfmt, clippy (warnings are errors), shellcheck when installed
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@if command -v shellcheck >/dev/null; then shellcheck -x -P SCRIPTDIR hack/*.sh charts/nexus/test.sh .ci/run; \
	  else echo "shellcheck not installed; skipping shell lint"; fi

.PHONY: test-unit
test-unit: ## Unit tests (no cluster needed)
	$(CARGO) test --workspace --lib --bins
	$(CARGO) test -p nexus-dora -p nexus-scorecards --tests

.PHONY: test-gitops
test-gitops: ## Argo CD health.lua against its test cases, run by gopher-lua as Argo CD does
	cd gitops/argocd && go test ./...

.PHONY: test-chart
test-chart: tools ## helm lint + template variants (server-side dry run happens in test-e2e)
	PATH="$(K8S_BIN):$$PATH" KUBECONFIG= charts/nexus/test.sh

.PHONY: test-e2e
test-e2e: tools ## End-to-end tests against a fresh local control plane
	NEXUS_CLUSTER_DIR=$(E2E_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true
	$(CARGO) build -p nexus-controller -p nexus-apiserver -p nexus-cli
	$(CARGO) build -p nexus-e2e --tests
	trap 'NEXUS_CLUSTER_DIR=$(E2E_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true' EXIT; \
	eval "$$(NEXUS_CLUSTER_DIR=$(E2E_CLUSTER) hack/cluster.sh up)"; \
	export PATH="$(K8S_BIN):$$PATH"; \
	kubectl apply --server-side -f crds/ >/dev/null; \
	kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null; \
	charts/nexus/test.sh; \
	$(CARGO) test -p nexus-e2e --test catalog -- --test-threads=1; \
	$(CARGO) test -p nexus-e2e --test ingestion -- --test-threads=1; \
	$(CARGO) test -p nexus-e2e --test actions -- --test-threads=1; \
	$(CARGO) test -p nexus-e2e --test apiserver -- --test-threads=1; \
	$(CARGO) test -p nexus-e2e --test portal_actions -- --test-threads=1; \
	$(CARGO) test -p nexus-e2e --test scorecards -- --test-threads=1; \
	$(CARGO) test -p nexus-e2e --test runbooks -- --test-threads=1; \
	$(CARGO) test -p nexus-e2e --test insights -- --test-threads=1

.PHONY: test-corpus
test-corpus: ## Parsers and the nexus binary over every file of ../shared/corpus; pollers against local HTTP servers (integration tests, no cluster)
	$(CARGO) test -p nexus-ingest -p nexus-cli -p nexus-controller --tests

# Fuzzing (cargo-fuzz, nightly): every target in fuzz/fuzz_targets/ for FUZZ_SECONDS each, seeded
# from ../shared/corpus. No sanitizer: the workspace forbids unsafe code, so the bug a fuzzer
# finds is a panic (or a hang/OOM), which libFuzzer catches without one.
FUZZ_SECONDS ?= 20
TEST_FUZZ_SECONDS ?= 15
FUZZ_TARGETS ?= $(sort $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs))))
FUZZ_FLAGS = --sanitizer none --debug-assertions
FUZZ_LOGS = fuzz/target/logs

.PHONY: fuzz-tools
fuzz-tools: ## Install nightly and cargo-fuzz when missing
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

.PHONY: fuzz
fuzz: fuzz-tools ## Fuzz every ingestion parser for FUZZ_SECONDS (20) each; fails on any crash (reproducers in fuzz/artifacts/)
	fuzz/seed.sh >/dev/null
	$(CARGO) +nightly fuzz build $(FUZZ_FLAGS)
	@mkdir -p $(FUZZ_LOGS); failed=(); \
	for t in $(FUZZ_TARGETS); do \
	  if $(CARGO) +nightly fuzz run $(FUZZ_FLAGS) "$$t" -- -max_total_time=$(FUZZ_SECONDS) \
	       -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$(FUZZ_LOGS)/$$t.log" 2>&1; then \
	    echo "fuzz $$t: ok, $$(grep -E '^(#[0-9]+\s+DONE|Done)' "$(FUZZ_LOGS)/$$t.log" | tail -1)"; \
	  else \
	    failed+=("$$t"); echo "fuzz $$t: FAILED"; tail -n 40 "$(FUZZ_LOGS)/$$t.log"; \
	  fi; \
	done; \
	if (($${#failed[@]})); then echo "fuzz: crashes in $${failed[*]}; reproducers under fuzz/artifacts/, logs in $(FUZZ_LOGS)/" >&2; exit 1; fi

.PHONY: test-fuzz
test-fuzz: ## `make fuzz` with a CI budget (TEST_FUZZ_SECONDS=15 per target)
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

.PHONY: test
test: verify-crds lint test-unit test-corpus test-gitops test-fuzz test-e2e test-portal ## Everything CI runs

.PHONY: cluster-up
cluster-up: tools ## Start the local control plane (prints the KUBECONFIG line)
	@NEXUS_CLUSTER_DIR=$(DEV_CLUSTER) hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local control plane (keeps its data; `hack/cluster.sh down --purge` removes it)
	NEXUS_CLUSTER_DIR=$(DEV_CLUSTER) hack/cluster.sh down

portal/node_modules/.package-lock.json: portal/package-lock.json portal/package.json
	cd portal && npm ci --no-audit --no-fund
	@touch $@

portal/dist/index.html: portal/node_modules/.package-lock.json $(PORTAL_SOURCES)
	cd portal && npm run build
	@touch $@

.PHONY: portal
portal: portal/dist/index.html ## Build the portal into portal/dist (npm ci && npm run build, when sources changed)

.PHONY: test-portal
test-portal: tools ## Portal: npm ci, lint, typecheck, Vitest, build, browser tests (Chromium) against a fresh local Nexus
	cd portal && npm ci --no-audit --no-fund && npm run lint && npm run typecheck && npm test && npm run build
	$(CARGO) build -p nexus-controller -p nexus-apiserver
	NEXUS_CLUSTER_DIR=$(PORTAL_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true
	cd portal && NEXUS_CLUSTER_DIR=$(PORTAL_CLUSTER) NEXUS_BIN_DIR=$${CARGO_TARGET_DIR:-$(REPO)/target}/debug node e2e/run.mjs

.PHONY: dev
dev: tools ## Control plane + CRDs + examples/ + controller + nexus-apiserver + portal (foreground; Ctrl-C stops)
	$(CARGO) build -p nexus-controller -p nexus-apiserver -p nexus-cli
	@if [ -n "$(HAVE_NPM)" ]; then $(MAKE) --no-print-directory portal; \
	  else echo "npm not found: the portal is not built; make dev serves the API only (install Node.js 20+)"; fi
	@eval "$$(NEXUS_CLUSTER_DIR=$(DEV_CLUSTER) hack/cluster.sh up)"; \
	export PATH="$(K8S_BIN):$$PATH"; \
	kubectl apply --server-side -f crds/ >/dev/null; \
	kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null; \
	kubectl apply --server-side -f examples/ >/dev/null; \
	kubectl apply --server-side -f hack/dev-rbac.yaml >/dev/null; \
	kubectl apply --server-side -f scorecards/templates/ >/dev/null; \
	kubectl apply --server-side -k actions/ -n team-checkout >/dev/null; \
	helm template nexus charts/nexus --show-only templates/actions-policies.yaml \
	  --set actions.controllerUsername=nexus-admin | kubectl apply --server-side -f - >/dev/null; \
	mkdir -p $(DEV_CLUSTER)/logs $(DEV_CLUSTER)/audit; \
	test -s $(DEV_CLUSTER)/audit-token || (umask 077; openssl rand -hex 24 > $(DEV_CLUSTER)/audit-token); \
	target/debug/nexus-apiserver serve --aggregated-addr 127.0.0.1:$(DEV_AGGREGATED_PORT) \
	  --portal-addr 127.0.0.1:$(DEV_PORTAL_PORT) --metrics-addr 127.0.0.1:$(DEV_APISERVER_METRICS_PORT) \
	  --tls-cert-file $(DEV_CLUSTER)/pki/nexus-apiserver.crt --tls-key-file $(DEV_CLUSTER)/pki/nexus-apiserver.key \
	  --dev-auth --dev-key-file $(DEV_KEY) --log-format text \
	  $$(test -f portal/dist/index.html && echo --portal-assets-dir $(REPO)/portal/dist) \
	  --audit-url http://127.0.0.1:8081 --audit-token-file $(DEV_CLUSTER)/audit-token \
	  >$(DEV_CLUSTER)/logs/nexus-apiserver.log 2>&1 & \
	apiserver=$$!; trap 'kill $$apiserver 2>/dev/null' EXIT; \
	NEXUS_CLUSTER_DIR=$(DEV_CLUSTER) hack/dev-apiservice.sh register $(DEV_AGGREGATED_PORT); \
	echo; if test -f portal/dist/index.html; then \
	  echo "Portal: https://127.0.0.1:$(DEV_PORTAL_PORT)/  (sign in as an example user; the certificate is signed by $(DEV_CLUSTER)/pki/ca.crt — trust it or accept the browser's warning)"; fi; \
	echo "Nexus is up. In another shell:"; \
	echo "  export KUBECONFIG=$$KUBECONFIG"; \
	echo "  export PATH=$(K8S_BIN):\$$PATH"; \
	echo "  kubectl get catalog -A                          # the CRDs"; \
	echo "  kubectl get entities.portal.nexus.dev -A        # the read cache (aggregated API)"; \
	echo "  kubectl get --raw '/apis/portal.nexus.dev/v1alpha1/searches?q=checkout&limit=5'"; \
	echo "Portal API: https://127.0.0.1:$(DEV_PORTAL_PORT)/api/v1 (CA: $(DEV_CLUSTER)/pki/ca.crt). A token:"; \
	echo "  TOKEN=\$$(make -s dev-token USER=aisha.khan@contoso.com GROUPS=nexus:engineering)"; \
	echo "  curl --cacert $(DEV_CLUSTER)/pki/ca.crt -H \"Authorization: Bearer \$$TOKEN\" https://127.0.0.1:$(DEV_PORTAL_PORT)/api/v1/me/dashboard"; \
	echo "Actions: kubectl get actions -n team-checkout; audit log $(DEV_CLUSTER)/audit (nexus audit verify)"; \
	echo "Logs: $(DEV_CLUSTER)/logs/nexus-apiserver.log   Metrics: controller :8080, apiserver :$(DEV_APISERVER_METRICS_PORT)"; \
	echo "Stop: Ctrl-C, then make cluster-down"; echo; \
	hack/dev-history.sh >$(DEV_CLUSTER)/logs/dev-history.log 2>&1 & \
	target/debug/nexus-controller --metrics-addr 127.0.0.1:8080 --webhook-addr 127.0.0.1:8081 \
	  --polling=false --lease-namespace default --log-format text \
	  --audit-log-dir $(DEV_CLUSTER)/audit --audit-token-file $(DEV_CLUSTER)/audit-token

.PHONY: dev-token
dev-token: ## Print a dev-auth token: make dev-token USER=<name or email> GROUPS=<g1,g2>
	@test -n "$(USER_NAME)" || { echo "usage: make dev-token USER=aisha.khan@contoso.com GROUPS=nexus:engineering" >&2; exit 2; }
	@target/debug/nexus-apiserver dev-token --key-file $(DEV_KEY) --user "$(USER_NAME)" \
	  $(foreach g,$(subst $(comma), ,$(GROUPS)),--group "$(g)")

.PHONY: bench
bench: tools ## Benchmark on a fresh control plane (BENCH_ENTITIES=10000; 100000 on request); prints JSON lines
	$(CARGO) build --release -p nexus-controller
	$(CARGO) build --release -p nexus-e2e --bin nexus-bench
	NEXUS_CLUSTER_DIR=$(BENCH_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true
	trap 'NEXUS_CLUSTER_DIR=$(BENCH_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true' EXIT; \
	eval "$$(NEXUS_CLUSTER_DIR=$(BENCH_CLUSTER) hack/cluster.sh up)"; \
	export PATH="$(K8S_BIN):$$PATH"; \
	kubectl apply --server-side -f crds/ >/dev/null; \
	kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null; \
	target/release/nexus-bench --entities $(BENCH_ENTITIES) --controller-bin $(REPO)/target/release/nexus-controller --keep

.PHONY: bench-ingest
bench-ingest: tools ## Webhook ingestion benchmark (verified deliveries/s, received → status p50/p99) on a fresh control plane; JSON lines
	$(CARGO) build --release -p nexus-controller
	$(CARGO) build --release -p nexus-e2e --bin nexus-ingest-bench
	NEXUS_CLUSTER_DIR=$(BENCH_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true
	trap 'NEXUS_CLUSTER_DIR=$(BENCH_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true' EXIT; \
	eval "$$(NEXUS_CLUSTER_DIR=$(BENCH_CLUSTER) hack/cluster.sh up)"; \
	export PATH="$(K8S_BIN):$$PATH"; \
	kubectl apply --server-side -f crds/ >/dev/null; \
	kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null; \
	target/release/nexus-ingest-bench --controller-bin $(REPO)/target/release/nexus-controller $(BENCH_INGEST_ARGS)

.PHONY: bench-actions
bench-actions: tools ## Actions benchmark (runs/s creation → Succeeded, approval → execution p50/p99) on a fresh control plane with the chart's policies; JSON lines
	$(CARGO) build --release -p nexus-controller
	$(CARGO) build --release -p nexus-e2e --bin nexus-actions-bench
	NEXUS_CLUSTER_DIR=$(BENCH_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true
	trap 'NEXUS_CLUSTER_DIR=$(BENCH_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true' EXIT; \
	eval "$$(NEXUS_CLUSTER_DIR=$(BENCH_CLUSTER) hack/cluster.sh up)"; \
	export PATH="$(K8S_BIN):$$PATH"; \
	kubectl apply --server-side -f crds/ >/dev/null; \
	kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null; \
	target/release/nexus-actions-bench --controller-bin $(REPO)/target/release/nexus-controller $(BENCH_ACTIONS_ARGS)

BENCH_SCORECARD_ENTITIES ?= 10000
.PHONY: bench-scorecards
bench-scorecards: ## Scorecard engine: rule evaluations/s and a full re-evaluation of BENCH_SCORECARD_ENTITIES (10000) × the five templates, one core; no cluster
	$(CARGO) run --release -p nexus-scorecards --bin nexus-scorecard-bench -- --entities $(BENCH_SCORECARD_ENTITIES)

BENCH_PORTAL_ENTITIES ?= 100000
BENCH_PORTAL_CLUSTER ?= $(REPO)/.nexus/bench-portal-cluster

.PHONY: bench-portal
bench-portal: tools portal ## Portal catalog browser at BENCH_PORTAL_ENTITIES (default 100000) in Chromium: first rows, scroll frame times, facet click; JSON lines
	$(CARGO) build --release -p nexus-controller -p nexus-apiserver
	$(CARGO) build --release -p nexus-e2e --bin nexus-read-bench
	NEXUS_CLUSTER_DIR=$(BENCH_PORTAL_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true
	trap 'NEXUS_CLUSTER_DIR=$(BENCH_PORTAL_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true' EXIT; \
	eval "$$(NEXUS_CLUSTER_DIR=$(BENCH_PORTAL_CLUSTER) hack/cluster.sh up)"; \
	export PATH="$(K8S_BIN):$$PATH"; \
	kubectl apply --server-side -f crds/ >/dev/null; \
	kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null; \
	target/release/nexus-read-bench --cluster --entities $(BENCH_PORTAL_ENTITIES) --keep --scenario get \
	  --concurrency 1 --requests 10 --max-seconds 2 --live-changes 0 \
	  --controller-bin $(REPO)/target/release/nexus-controller --apiserver-bin $(REPO)/target/release/nexus-apiserver >/dev/null; \
	NEXUS_CLUSTER_DIR=$(BENCH_PORTAL_CLUSTER) node portal/e2e/bench.mjs --bin $(REPO)/target/release $(BENCH_PORTAL_ARGS)

.PHONY: bench-read
bench-read: tools ## Read-path benchmark of nexus-apiserver (BENCH_READ_ENTITIES=100000): in-process, then on a fresh control plane; JSON lines
	$(CARGO) build --release -p nexus-controller -p nexus-apiserver
	$(CARGO) build --release -p nexus-e2e --bin nexus-read-bench
	target/release/nexus-read-bench --in-process --entities $(BENCH_READ_ENTITIES) $(BENCH_READ_ARGS)
	NEXUS_CLUSTER_DIR=$(BENCH_READ_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true
	trap 'NEXUS_CLUSTER_DIR=$(BENCH_READ_CLUSTER) hack/cluster.sh down --purge >/dev/null 2>&1 || true' EXIT; \
	eval "$$(NEXUS_CLUSTER_DIR=$(BENCH_READ_CLUSTER) hack/cluster.sh up)"; \
	export PATH="$(K8S_BIN):$$PATH"; \
	kubectl apply --server-side -f crds/ >/dev/null; \
	kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null; \
	target/release/nexus-read-bench --cluster --entities $(BENCH_READ_ENTITIES) --keep \
	  --controller-bin $(REPO)/target/release/nexus-controller --apiserver-bin $(REPO)/target/release/nexus-apiserver $(BENCH_READ_ARGS)
