#!/usr/bin/env bash
# Compares the no-op load harness (BENCHMARKS.md, "No-op jobs through the
# dispatcher") between two revisions, in interleaved runs so that both see the
# same machine:
#
#   contrib/ab-noop.sh REV_A REV_B [ROUNDS]
#
# Each revision is checked out in a temporary worktree and its tests/ package
# compiled once (the harness builds the eventide binary of its own checkout).
# Then ROUNDS (default 3) rounds each run A, then B, with the harness's usual
# environment (EVENTIDE_LOAD_JOBS, default here 20000; EVENTIDE_E2E_RACE=0 is
# forced, a race build measures the detector). Extra EVENTIDE_LOAD_* settings in
# the environment pass through to both. Prints every run's jobs/s and each
# side's median.
set -euo pipefail
a=${1:?usage: ab-noop.sh REV_A REV_B [ROUNDS]}
b=${2:?usage: ab-noop.sh REV_A REV_B [ROUNDS]}
rounds=${3:-3}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
cleanup() {
  git -C "$src" worktree remove --force "$work/a" 2>/dev/null || true
  git -C "$src" worktree remove --force "$work/b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for side in a b; do
  rev=${!side}
  git -C "$src" worktree add -q --detach "$work/$side" "$rev"
  (cd "$work/$side" && go test -c -o "$work/$side.test" ./tests)
done

export EVENTIDE_E2E_RACE=0
export EVENTIDE_LOAD_JOBS=${EVENTIDE_LOAD_JOBS:-20000}

# run SIDE: one harness run of SIDE's revision; prints its jobs/s.
run() {
  local out
  out=$(cd "$work/$1/tests" && "$work/$1.test" -test.run '^$' -test.bench NoopJobs -test.benchtime 1x -test.v 2>&1) || {
    echo "$out" >&2
    return 1
  }
  echo "$out" | grep -o '[0-9.]* jobs/s' | tail -1 | cut -d' ' -f1
}

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

ra=() rb=()
for ((r = 1; r <= rounds; r++)); do
  x=$(run a)
  ra+=("$x")
  y=$(run b)
  rb+=("$y")
  echo "round $r: A $x jobs/s, B $y jobs/s (load $(cut -d' ' -f1-3 /proc/loadavg))"
done
ma=$(printf '%s\n' "${ra[@]}" | median)
mb=$(printf '%s\n' "${rb[@]}" | median)
echo "A $a: ${ra[*]} (median $ma jobs/s)"
echo "B $b: ${rb[*]} (median $mb jobs/s)"
awk -v a="$ma" -v b="$mb" 'BEGIN {printf "B/A: %.3f\n", b / a}'
