#!/usr/bin/env bash
# Measures one of the load benchmarks in plaintext and over TLS, interleaved in one
# sitting, so that the ratio is taken on the same machine in the same mood:
#
#   contrib/tls-bench.sh BENCH [ROUNDS]
#
# BENCH is HelloStorm, NoopJobs, IdleRunners or Flood (tests/*_test.go); ROUNDS
# (default 3) pairs are run, the order inside a pair alternating (plaintext first,
# then TLS first, ...). The sizes pass through the environment (EVENTIDE_IDLE_RUNNERS,
# EVENTIDE_LOAD_JOBS, ...). Each run prints the load average before it, the
# benchmark's metrics line and its log lines. The binary is built without the race
# detector, as shipped.
set -euo pipefail
bench=${1:?usage: contrib/tls-bench.sh BENCH [ROUNDS]}
rounds=${2:-3}
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/tests.test" ./tests
for ((i = 1; i <= rounds; i++)); do
  order="0 1"
  ((i % 2 == 0)) && order="1 0"
  for tls in $order; do
    echo "== round $i, EVENTIDE_TLS=$tls, $(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd tests && EVENTIDE_E2E_RACE=0 EVENTIDE_TLS=$tls "$bin/tests.test" -test.run '^$' \
      -test.bench "^Benchmark$bench\$" -test.benchtime 1x -test.v -test.timeout 30m 2>&1 |
      grep -E "^Benchmark|_test\.go:[0-9]+:|FAIL|panic" || true)
  done
done
