# boxmail: build, test and check targets. `make test` is the whole suite.
GO ?= go
export CGO_ENABLED = 0

.PHONY: all build test check fmt vet fuzz bench clean

all: build

build:
	$(GO) build -o boxmail ./cmd/boxmail

# The whole test suite: unit tests, end-to-end tests with real clients
# (swaks, python3), dialogs and the import-graph check.
test: vet
	$(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

# What CI checks besides the tests: formatting and a 386 vet.
check: vet
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	GOARCH=386 $(GO) vet ./...

fmt:
	gofmt -w .

# A short run of every fuzz target (FUZZTIME per target).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep ^Fuzz); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

clean:
	rm -f boxmail
