#!/usr/bin/env bash
# Times the README's test command on a fresh clone of this repository, as CI runs it.
#
#   contrib/suite-timing.sh [RUNS] [HOGS]
#
# RUNS (default 3) runs in a row in one fresh clone (the first warms the build
# cache, as a machine that has built once has it); HOGS (default 0) CPU-bound
# processes (`while :; do :; done`) run beside them, to stand for a busy machine.
# Each run uses -count=1, so no test result comes from the cache. Prints each
# run's wall time, exit status and the peak RSS summed over every process of the
# run (sampled every 0.5 s), then the median wall time.
set -euo pipefail
runs=${1:-3}
hogs=${2:-0}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
hog_pids=()
cleanup() {
  for p in "${hog_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
git clone -q "$src" "$work/eventide"
cd "$work/eventide"
for ((i = 0; i < hogs; i++)); do
  sh -c 'while :; do :; done' &
  hog_pids+=($!)
done

# rss_of_tree PID: the summed RSS (KiB) of PID and all its descendants.
rss_of_tree() {
  local pids=("$1") all=() kids
  while ((${#pids[@]})); do
    all+=("${pids[@]}")
    kids=$(for p in "${pids[@]}"; do cat "/proc/$p/task/"*/children 2>/dev/null; done | tr ' ' '\n' | grep -v '^$' || true)
    read -r -a pids <<<"$(echo $kids)"
  done
  local sum=0 v
  for p in "${all[@]}"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

walls=()
status=0
for ((r = 1; r <= runs; r++)); do
  start=$(date +%s%N)
  GOFLAGS="-count=1" bash -c 'go vet ./... && go test -race ./tests ./...' >"$work/run$r.log" 2>&1 &
  pid=$!
  peak=0
  while kill -0 "$pid" 2>/dev/null; do
    now=$(rss_of_tree "$pid")
    ((now > peak)) && peak=$now
    sleep 0.5 # sampling interval of the RSS probe
  done
  rc=0
  wait "$pid" || rc=$?
  wall=$((($(date +%s%N) - start) / 1000000)) # ms
  walls+=("$wall")
  printf 'run %d: %d.%d s, exit %d, peak RSS %d MiB, load %s\n' "$r" $((wall / 1000)) $((wall % 1000 / 100)) "$rc" $((peak / 1024)) "$(cut -d' ' -f1-3 /proc/loadavg)"
  # The slowest packages of the run, for where the time goes.
  grep -aE '^(ok|FAIL)[[:space:]]' "$work/run$r.log" | sort -t$'\t' -k3 -rV | head -4 | sed 's/^/    /' || true
  if ((rc != 0)); then
    status=1
    keep="${TMPDIR:-/tmp}/suite-timing-run$r-$$.log"
    cp "$work/run$r.log" "$keep"
    grep -E '^(--- FAIL|FAIL|panic)' "$keep" | head -20 || true
    echo "the whole log: $keep"
  fi
done
median=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'median of %d: %d.%d s (%d CPU-bound processes beside)\n' "$runs" $((median / 1000)) $((median % 1000 / 100)) "$hogs"
exit $status
