# fastdeal: `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/fastdeal
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOLANGCI_VERSION ?= v2.15.0
# 30m: under load (stress-ng beside the suite) test/invariants alone took 16 min.
TEST_FLAGS ?= -race -count=1 -timeout 30m

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/fastdeal
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/fastdeal

.PHONY: run
run: ## Run on the embedded default (memory storage, :8080) with two demo drops
	$(GO) run ./cmd/fastdeal serve --demo

.PHONY: services
services: ## Make sure MariaDB, Redis and the local Redis Cluster are up (start or install them)
	@bash infra/local/ensure-services

.PHONY: test
test: services ## Run every test with -race (starts MariaDB, Redis and the Redis Cluster if needed)
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...
	@# The national-scale coupon-rush (50,000 users, a shuffled pre-queue) is
	@# load, not a race hunt: run without -race, after the suite.
	$(GO) test -count=1 -timeout 10m -tags national -run TestNationalScale ./test/scenarios/

.PHONY: cover
cover: services ## Run the tests with coverage and write coverage.html
	$(GO) test -race -count=1 -coverpkg=./... -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -n 1
	$(GO) tool cover -html=coverage.out -o coverage.html

FUZZTIME ?= 30s
# FUZZFLAGS goes to every go test call, e.g. FUZZFLAGS=-parallel=1 for one
# worker on a shared machine (go test starts one per CPU by default).
FUZZFLAGS ?=
FUZZ_TARGETS := \
	FuzzDecodeCreateDrop:./adapters/http FuzzDecodePatchDrop:./adapters/http FuzzDecodeClaim:./adapters/http \
	FuzzBuyerToken:./adapters/http FuzzProblemWriter:./adapters/http FuzzToProblem:./adapters/http \
	FuzzAppendJSONString:./adapters/http FuzzAppendETA:./adapters/http \
	FuzzValidID:./domain/drop FuzzValidSeatLabel:./domain/drop

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s), one after another; FUZZFLAGS=-parallel=1 for one worker
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t%%:*} ($${t#*:}, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) "$${t#*:}"; \
	done

.PHONY: bench
bench: services ## Run the Go benchmarks (see docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: lint
lint: ## go vet plus golangci-lint (built from the Go module proxy)
	$(GO) vet ./...
	@command -v golangci-lint >/dev/null 2>&1 || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	golangci-lint run ./...

.PHONY: stack-up
stack-up: ## Run the full stack as local processes (nginx, 2 apps, Redis + Sentinel, MariaDB); REDIS=cluster for the Redis Cluster
	bash infra/local/stack up --redis $(or $(REDIS),sentinel)

.PHONY: stack-down
stack-down: ## Stop the local stack
	bash infra/local/stack down

.PHONY: stack-status
stack-status: ## Show the local stack's processes and the Redis master
	bash infra/local/stack status

.PHONY: test-stack
test-stack: services ## Failover test: load through nginx while apps die and Redis fails over
	$(GO) test -tags stack -count=1 -v -timeout 15m ./test/stack/

.PHONY: redis-cluster
redis-cluster: ## Make sure the local Redis Cluster runs (3 masters + 3 replicas on 127.0.0.1:7001-7006)
	bash infra/local/stack cluster-up

.PHONY: redis-cluster-down
redis-cluster-down: ## Stop the local Redis Cluster (its state stays in /tmp/fastdeal-redis-cluster)
	bash infra/local/stack cluster-down

.PHONY: test-cluster
test-cluster: services ## Redis Cluster tests: a master killed under load; 30 drops per scenario audited, keys on every master
	$(GO) test -tags cluster -count=1 -v -timeout 10m ./test/cluster/

.PHONY: clean
clean: ## Remove build output
	rm -rf bin coverage.out coverage.html
