# picket's build. `make test` is what CI runs (.ci/run calls it): format
# check, go vet, staticcheck and the other linters, then every test with
# the race detector. The linters come from tools/go.mod and are built by
# the go command on first use, so nothing needs installing beforehand.

GO        ?= go
TOOLS     := $(GO) tool -modfile=tools/go.mod
BENCH     ?= .
BENCHTIME ?= 1x

.PHONY: all build deps test fmt-check vet lint race bench dense-bench fuzz examples lab clean

all: build

build:
	$(GO) build -o bin/picket ./cmd/picket

test: deps fmt-check vet lint race

# What the tests need beyond Go: the AWS CLI for internal/api's CLI test
# (installed only when missing).
deps:
	bash scripts/install-test-deps

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './tools/*')); \
	if [ -n "$$out" ]; then echo "gofmt needs to rewrite:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	$(TOOLS) staticcheck ./...
	$(TOOLS) golangci-lint run ./...

race:
	$(GO) test -race -shuffle=on -count=1 -timeout 30m ./...

# Benchmarks: decode throughput, the detector set, and the rest. See the
# README's performance section for the figures and how they were taken.
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) ./...

# picket analyze on a dense 5-million-record flow log beside DuckDB running
# one port-scan query over the same file (tools/densequery, a module of its
# own) and zcat of its gzip copy: wall, CPU and peak memory of each, and
# the ratios, medians over DENSE_ROUNDS rounds (3) after a warm-up run.
# DENSE_RECORDS and DENSE_DIR change the size and keep the file. Several
# minutes; run by hand, never by `make test`.
dense-bench:
	GO=$(GO) bash scripts/dense-bench

# A short fuzzing pass over every parser.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./internal/decode/vpcflow
	$(GO) test -run '^$$' -fuzz FuzzParquet -fuzztime 30s ./internal/decode/vpcflow
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./internal/decode/cloudtrail
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 30s ./internal/decode/cloudtrail
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 30s ./internal/decode/resolver
	$(GO) test -run '^$$' -fuzz FuzzJSONString -fuzztime 30s ./internal/event
	$(GO) test -run '^$$' -fuzz FuzzPcap -fuzztime 30s ./internal/decode/pcap
	$(GO) test -run '^$$' -fuzz FuzzZeek -fuzztime 30s ./internal/decode/zeek
	$(GO) test -run '^$$' -fuzz '^FuzzDNS$$' -fuzztime 30s ./internal/decode/zeek
	$(GO) test -run '^$$' -fuzz FuzzValue -fuzztime 30s ./internal/jsonscan
	$(GO) test -run '^$$' -fuzz FuzzOpen -fuzztime 30s ./internal/decode
	$(GO) test -run '^$$' -fuzz '^FuzzDetect$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzTXT$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzFireHOL$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzIPSum$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzSTIX1$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzSTIX2$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzOTXCSV$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzAlienVault$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzProofPoint$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzFireEye$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzTorExit$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzTorRelay$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzParseIndicator$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzParseAddr$$' -fuzztime 30s ./internal/intel
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./internal/inventory

# Regenerate the bundled example data.
examples:
	rm -rf examples/flowlogs
	$(GO) run ./cmd/picket generate --layout s3 --out examples/flowlogs --duration 1h --labels examples/labels.json

# The capture lab: real scanners and workloads in network namespaces,
# captured into internal/scenario/testdata/lab (docs/lab.md). Root and
# Debian only; about half an hour. Run by hand, never by `make test`.
lab:
	sudo bash scripts/lab/run --deps

clean:
	rm -rf bin
