#!/usr/bin/env bash
# Runs both tiers N times in a row against the local cluster (as bin/benchmark
# runs them, the known-failures profile included) and prints each test's
# verdict in every run: a test whose verdict is not the same in all runs is
# a flake, shown with the runs that differ and where their reports are. Not a
# test (it takes N × about 3.5 min here); run it by hand, as root:
#
#   test/stress/repeat-tiers.sh [N]        # N defaults to 10
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-10}
out=${REPEAT_DIR:-/tmp/sctp-e2e-repeat}
rm -rf "$out" && mkdir -p "$out"
verdicts=$out/verdicts.tsv # run <TAB> verdict <TAB> test title
bash "$root/cluster/up.sh" >"$out/cluster-up.log" 2>&1
for i in $(seq 1 "$runs"); do
  for tier in basic connectivity; do
    log=$out/run$i-$tier.log
    if [[ $tier == basic ]]; then
      args=(--focus '\[Feature:SCTP\]')
    else
      args=(--disruptive --focus '\[Feature:SCTPConnectivity\]' --known "$root/fixtures/known/local-cluster.yaml")
    fi
    "$root/bin/sctp-e2e" run --report-dir "$out/run$i-$tier" "${args[@]}" >"$log" 2>&1 || true
    echo "run $i $tier: $(tail -n 1 "$log")" >&2
    sed -nE 's/^(ok|FAIL|skip|KNOWN|ERROR) +(.*) \([0-9.]+s\) +\[.*/\1\t\2/p' "$log" | sed "s/^/$i\t/" >>"$verdicts"
  done
done
echo
echo "verdicts per test over $runs runs (same in every run, or the runs that differ):"
awk -F'\t' -v n="$runs" '
  { key = $3; if (!(key in seen)) order[++k] = key; seen[key] = 1; v[key, $1] = $2; count[key, $2]++ }
  END {
    flakes = 0
    for (i = 1; i <= k; i++) {
      key = order[i]; line = ""; first = v[key, 1]; same = 1
      for (r = 1; r <= n; r++) { line = line " " (v[key, r] == "" ? "-" : v[key, r]); if (v[key, r] != first) same = 0 }
      if (same) printf "%-6s x%-3d %s\n", first, n, key
      else { flakes++; printf "FLAKE %s  %s\n", line, key }
    }
    printf "\n%d test(s) with the same verdict in all %d runs, %d flake(s)\n", k - flakes, n, flakes
  }' "$verdicts"
