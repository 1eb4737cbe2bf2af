# Switchyard developer commands. `make` (or `make help`) lists them.
#
# Every target that needs PostgreSQL and Redis starts them first with
# scripts/services.sh and runs with the DATABASE_URL/REDIS_URL it prints.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

GO ?= go
NPM ?= npm
BIN := bin/switchyard
SERVICES := scripts/services.sh
GO_TEST_TIMEOUT ?= 20m
# Pinned: staticcheck releases follow Go releases; @latest may not build.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@2025.1.1

# Prefixed to recipe lines that talk to the services.
WITH_ENV := eval "$$($(SERVICES) env)";

E2E := $(wildcard e2e/package.json)

.PHONY: help
help: ## list the targets (default)
	@echo 'Usage: make <target>'
	@echo
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'
	@echo
	@echo 'Typical: make run (serve at http://localhost:8080), make test.'

.PHONY: run
run: services build ## start services, migrate, seed and serve at http://localhost:8080 (Ctrl-C stops)
	@$(WITH_ENV) \
		./$(BIN) migrate up && \
		./$(BIN) seed && \
		echo "serving on $${SWITCHYARD_ADDR:-:8080} (http://localhost:8080 by default; playground at /playground); Ctrl-C stops" && \
		exec ./$(BIN) serve

.PHONY: services
services: ## install if needed and start PostgreSQL and Redis in .data/
	@$(SERVICES) start

.PHONY: env
env: ## print export lines for DATABASE_URL and REDIS_URL: eval "$(make -s env)"
	@$(SERVICES) env

.PHONY: stop
stop: ## stop PostgreSQL and Redis
	@$(SERVICES) stop

.PHONY: status
status: ## show whether PostgreSQL and Redis are up
	@$(SERVICES) status

.PHONY: build
build: web ## build bin/switchyard with the web app embedded
	$(GO) build -o $(BIN) ./cmd/switchyard

.PHONY: test
test: services web $(if $(E2E),e2e/node_modules/.installed) ## start services, then Go tests, web unit tests and the e2e suite
	@echo '==> go test ./...'
	@$(WITH_ENV) $(GO) test -count=1 -timeout $(GO_TEST_TIMEOUT) ./...
	@echo '==> web unit tests'
	cd web && $(NPM) test
ifneq ($(E2E),)
	@echo '==> e2e'
	@$(WITH_ENV) cd e2e && $(NPM) test
else
	@echo '==> e2e: no e2e/package.json, nothing to run'
endif
	@echo '==> all tests passed'

.PHONY: generate
generate: ## regenerate graph/ from schema/*.graphqls with gqlgen
	$(GO) tool gqlgen generate

.PHONY: verify
verify: generate ## fail if generated code or go.mod/go.sum are not up to date and committed
	@if [ -n "$$(git status --porcelain -- graph/ go.mod go.sum)" ]; then \
		git status --short -- graph/ go.mod go.sum; \
		echo 'verify: after `make generate` (gqlgen, which also tidies go.mod) these files differ'; \
		echo '        from what is committed: commit the regenerated files (never edit graph/ by hand).'; \
		exit 1; \
	fi
	@if ! $(GO) mod tidy -diff; then \
		echo 'verify: go.mod/go.sum are not tidy; run `go mod tidy` and commit the result.'; \
		exit 1; \
	fi
	@echo 'verify: generated code and go.mod are up to date'

.PHONY: lint
lint: ## go vet, plus staticcheck when it can be fetched
	$(GO) vet ./...
	@if why=$$($(GO) run $(STATICCHECK) -version 2>&1); then \
		echo '$(GO) run $(STATICCHECK) ./...'; \
		$(GO) run $(STATICCHECK) ./...; \
	else \
		echo 'lint: skipped staticcheck: $(STATICCHECK) could not be fetched or built here:'; \
		printf '%s\n' "$$why" | tail -n 2 | sed 's/^/lint:   /'; \
		echo 'lint: go vet passed'; \
	fi

# Benchmarks measure, they do not pass or fail: run them on a quiet machine
# and read the figures (bench/README.md records the last ones).
# --profile builds the server with a pprof listener (a build overlay) so that
# memory per subscriber can be read after a forced GC; the profiles land in
# .data/bench-profiles.
BENCH_REALTIME_FLAGS ?= -transport ws,sse -n 1000,5000,10000 -markdown -profile .data/bench-profiles
GO_BENCH_FLAGS ?= -benchtime 1s

.PHONY: bench
bench: services ## every benchmark: the Go benchmarks (go test -bench), then bench-realtime
	@echo '==> go test -bench . ./...'
	@$(WITH_ENV) $(GO) test -run '^$$' -bench . $(GO_BENCH_FLAGS) -timeout $(GO_TEST_TIMEOUT) ./...
	@$(MAKE) --no-print-directory bench-realtime

.PHONY: bench-realtime
bench-realtime: services ## load-test live updates: N subscribers over WebSocket and SSE; latency, deliveries/s, memory (BENCH_REALTIME_FLAGS)
	@$(WITH_ENV) $(GO) run ./bench/realtime $(BENCH_REALTIME_FLAGS)

# The first run seeds `seed --scale 100` into a database that is kept between
# runs (SWITCHYARD_BENCH_ANALYTICS_DB, default switchyard_bench_analytics).
BENCH_ANALYTICS_TIME ?= 200x

.PHONY: bench-analytics
bench-analytics: services ## analytics on 200,000 seeded orders (kept database switchyard_bench_analytics): p50/p99 per query shape
	@$(WITH_ENV) $(GO) test -run '^$$' -bench BenchmarkAnalytics -benchtime $(BENCH_ANALYTICS_TIME) -timeout $(GO_TEST_TIMEOUT) ./postgres/

# Search: the search-core benchmarks on a generated 200,000-order corpus
# (query p50/p99, indexing docs/s), then a full rebuild of `seed --scale 100`
# from PostgreSQL and commit-to-searchable latency, in a database kept between
# runs (SWITCHYARD_BENCH_SEARCH_DB, default switchyard_bench_search).
BENCH_SEARCH_TIME ?= 200x

.PHONY: bench-search
bench-search: services ## search on 200,000 orders: query p50/p99 and docs/s (embedded), full rebuild time, commit-to-searchable latency
	@$(WITH_ENV) $(GO) test -run '^$$' -bench 'BenchmarkIndexing|BenchmarkSearch' -benchtime $(BENCH_SEARCH_TIME) -timeout $(GO_TEST_TIMEOUT) ./search/embedded/
	@$(WITH_ENV) $(GO) test -run '^$$' -bench 'BenchmarkReindex|BenchmarkIndexLatency' -benchtime 1x -timeout $(GO_TEST_TIMEOUT) ./cmd/switchyard/

.PHONY: web
web: web/node_modules/.installed ## install the web app's packages and build it into web/dist (embedded by build)
	cd web && $(NPM) run build

# npm ci wipes node_modules, so run it only when the lock file changes.
web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund
	@touch $@

e2e/node_modules/.installed: e2e/package.json $(wildcard e2e/package-lock.json)
	@if [ -f e2e/package-lock.json ]; then \
		echo 'cd e2e && $(NPM) ci'; cd e2e && $(NPM) ci --no-audit --no-fund; \
	else \
		echo 'cd e2e && $(NPM) install'; cd e2e && $(NPM) install --no-audit --no-fund; \
	fi
	@touch $@

.PHONY: clean
clean: ## remove build output (bin/, web/dist) but keep the service data
	rm -rf bin
	find web/dist -mindepth 1 ! -name .keep -delete 2>/dev/null || true
