# Valkyrie developer recipes. `just --list` shows them.

# Run the server, e.g. `just run --address=127.0.0.1:6380`.
run *ARGS:
    go run ./cmd/valkyrie {{ARGS}}

# Unit and integration tests.
test:
    go test ./...

# Tests under the race detector.
race:
    go test -race ./...

# Randomized stress test of the whole server for a long time (default 30m),
# e.g. `just soak 2h`, or `just soak 10m -stress.clients=32 -stress.seed=42`.
soak DURATION="30m" *ARGS:
    go test ./conn -run '^TestStress$' -count=1 -v -timeout 0 -stress.duration={{DURATION}} {{ARGS}}

# Fuzz the RESP reader for a minute. Go minimizes each new input for up to
# 60s by default, which left a minute of fuzzing with almost no executions.
fuzz:
    go test ./wire -run '^$' -fuzz '^FuzzReader$' -fuzztime 60s -fuzzminimizetime 5s

# gofmt check and go vet.
lint:
    #!/usr/bin/env bash
    set -euo pipefail
    files=$(gofmt -l .)
    if [ -n "$files" ]; then echo "needs gofmt:"; echo "$files"; exit 1; fi
    go vet ./...

# Micro-benchmarks, then Valkyrie vs redis-server with redis-benchmark.
bench:
    go test -run '^$' -bench . -benchmem ./wire/ ./shard/
    go run ./cmd/valkyrie-bench -build

# What CI runs.
ci:
    bash .ci/run
