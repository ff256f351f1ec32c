# gitchaos — see README.md. `make gate` is the main job, `make test` the tests.
GO       ?= go
BIN      ?= bin
PKGS     := ./...
# Core packages run under the race detector; the CLI and the scenarios
# (git-heavy integration, timing budgets) without it.
RACE_PKGS ?= ./harness/... ./fixtures/... ./reports/...
TESTFLAGS ?= -count=1 -timeout 15m
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

.PHONY: all build test unit lint gate matrix images compose-up compose-down sweep clean

all: lint build test

# Static binaries: gitchaos, gitserver, reffetcher, toxiproxy-server.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	./.github/lint.sh

# The tests: lint, unit and integration tests (race detector on the core),
# the repo-generation and testbed-start speed floors, then the mutant matrix.
test: lint unit matrix

unit:
	$(GO) test $(TESTFLAGS) -race $(RACE_PKGS)
	$(GO) test $(TESTFLAGS) -run TestGenerateThousand ./fixtures/repogen
	$(GO) test $(TESTFLAGS) -run TestStartTime ./harness/testbed/
	# one package at a time: both run gates with timing budgets
	$(GO) test $(TESTFLAGS) -p 1 ./cmd/... ./scenarios/...

# The main job: the gate suite against the in-process reference fetcher
# on the embedded testbed.
gate:
	$(GO) run ./cmd/gitchaos gate

# The correct fetcher passes every gate; every mutant fails its gates.
# Then the same on the docker testbed for the offline-isolation and churn
# gates and their mutants.
matrix:
	$(GO) run ./cmd/gitchaos matrix
	$(GO) run ./cmd/gitchaos matrix --testbed docker --only offline,churn

# FROM scratch images of the git server and toxiproxy (the docker testbed
# builds them itself on first use; docker-compose.yml runs :latest).
images:
	$(GO) run ./cmd/gitchaos testbed images

compose-up: images
	$(COMPOSE) up -d

compose-down:
	$(COMPOSE) down --remove-orphans --timeout 1

# Remove gitchaos containers and networks left by killed runs.
sweep:
	$(GO) run ./cmd/gitchaos testbed sweep

clean:
	rm -rf $(BIN)
