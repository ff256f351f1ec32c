# gitchaos — see README.md. `make gate` is the main job, `make test` the tests.
GO       ?= go
BIN      ?= bin
PKGS     := ./...
# Core packages run under the race detector; the rest (slow git-heavy
# integration) without it.
RACE_PKGS ?= ./harness/... ./fixtures/... ./reports/...
TESTFLAGS ?= -count=1 -timeout 15m

.PHONY: all build test test-race test-rest lint gate matrix images clean

all: lint build test

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

test: lint
	$(GO) test $(TESTFLAGS) -race $(RACE_PKGS)
	$(GO) test $(TESTFLAGS) ./cmd/... ./scenarios/...

gate:
	$(GO) run ./cmd/gitchaos gate

matrix:
	$(GO) run ./cmd/gitchaos matrix

clean:
	rm -rf $(BIN)
