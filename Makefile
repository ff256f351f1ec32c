# gitchaos — see README.md. `make gate` is the main job, `make test` the tests.
GO       ?= go
BIN      ?= bin
PKGS     := ./...
# Core packages run under the race detector, the gates too (alone: timing
# budgets); the CLI's and the public API's tests under it with -short
# (their end-to-end gate runs skip) and all of them without it.
RACE_PKGS ?= ./harness/... ./fixtures/... ./reports/...
TESTFLAGS ?= -count=1 -timeout 15m
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

.PHONY: all build test unit lint gate matrix pyopal opal-compare images compose-up compose-down sweep clean fuzz

all: lint build test

# Static binaries: gitchaos, gitserver, reffetcher, toxiproxy-server.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; }
	./.github/staticcheck.sh
	./.github/lint.sh

# The tests: lint, unit and integration tests (race detector on the core,
# the gates, and the CLI's and public API's own tests),
# the repo-generation and testbed-start speed floors, then the mutant matrix.
test: lint unit matrix

unit:
	$(GO) test $(TESTFLAGS) -race $(RACE_PKGS)
	$(GO) test $(TESTFLAGS) -race ./internal/...
	$(GO) test $(TESTFLAGS) -race -short -p 1 -skip '^TestGatesPassOnCorrectFetcher$$' ./cmd/... ./scenarios/...
	$(GO) test $(TESTFLAGS) -run TestGenerateThousand ./fixtures/repogen
	$(GO) test $(TESTFLAGS) -run TestStartTime ./harness/testbed/
	# one package at a time: they run gates with timing budgets. The two
	# skipped tests are rows of the matrix that `test` runs next (the whole
	# suite on the correct fetcher; three mutants against their gates).
	$(GO) test $(TESTFLAGS) -p 1 -skip '^(TestGatesPassOnCorrectFetcher|TestGatesCatchTheirMutants)$$' ./cmd/... ./scenarios/...

# The Python target alone (fixtures/pyopal): its package test, then the
# clean server through its gates and every bug switch against the check
# that guards it. `unit` runs both already (./fixtures/... with -race,
# ./scenarios/... without).
pyopal:
	$(GO) test $(TESTFLAGS) -race ./fixtures/pyopal/
	$(GO) test $(TESTFLAGS) -run 'TestPyopal' -v ./scenarios/

# Base against head on the real OPAL server (../shared/opal): the server
# as it is against a temp copy whose DELETE route calls
# ScopesService.delete_scope, churn and delete-hang interleaved (minutes;
# docs/opal.md, "Base against head: a DELETE that purges").
opal-compare:
	GITCHAOS_OPAL_COMPARE=1 $(GO) test $(TESTFLAGS) -run '^TestOPALDeletePurge$$' -v ./cmd/gitchaos

# The main job: the gate suite against the in-process reference fetcher
# on the embedded testbed.
gate:
	$(GO) run ./cmd/gitchaos gate

# The correct fetcher passes every gate; every mutant fails its gates,
# judged as base against head: the correct fetcher (base, the whole suite,
# alone) against each mutant (head, its gates, each row in a process of
# its own, six at a time: they mostly wait out timeouts and hangs), three runs a side, interleaved; every
# must-fail check broken or worse, no other check worse, and the correct
# fetcher passing every check in every run (docs/compare.md, "Correct
# against each mutant"; the one-run table is `gitchaos matrix`).
# Then on the docker testbed the offline-isolation and churn gates: the
# correct fetcher passes both, and one mutant per gate fails it there (a
# hung host through the toxiproxy container; an fd leak measured across
# churn against the containerised git server). `gitchaos matrix --testbed
# docker --only offline,churn` runs all seven rows (92.5 s, BENCHMARKS.md).
matrix:
	$(GO) run ./cmd/gitchaos compare --mutants all --parallel 6
	$(GO) run ./cmd/gitchaos matrix --testbed docker --only offline,churn --mutants no-host-bulkhead,fd-leak-on-delete

# FROM scratch images of the git server and toxiproxy (the docker testbed
# builds them itself on first use; docker-compose.yml runs :latest).
images:
	$(GO) run ./cmd/gitchaos testbed images

compose-up: images
	$(COMPOSE) up -d

compose-down:
	$(COMPOSE) down --remove-orphans --timeout 1

# Fuzz the client's decoding of each route's answer and the stats probe's, 10 s each (the seed
# corpus in harness/target/testdata/fuzz runs in every go test).
fuzz:
	for f in FuzzScopesAnswer FuzzScopeAnswer FuzzPolicyAnswer FuzzHealthAnswer FuzzStatsAnswer; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime 10s ./harness/target || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzParseStats$$' -fuzztime 10s ./harness/probe

# Remove what killed runs left: exec target dirs, containers and networks.
sweep:
	$(GO) run ./cmd/gitchaos testbed sweep

clean:
	rm -rf $(BIN)
