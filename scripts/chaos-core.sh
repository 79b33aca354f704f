#!/usr/bin/env bash
# Fault test of the core (issue 7), full length: 20 rounds (ROUNDS=N to change)
# of SIGSTOP of one master at random for 2 x TTL on a local cluster of 3
# masters and 3 agents with running instances and jobs, then SIGSTOP of two
# masters. Runs cmd/drover's TestChaosCoreMasterStalls (CI runs it with 4
# rounds) and prints its figures. About 15 s a round.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-20}
out=$(mktemp /tmp/chaos-core.XXXXXX)
echo "chaos-core: $ROUNDS rounds; full output in $out"
rc=0
# NET: the 127.0.x prefix of the cluster's addresses (another than the
# suite's 127.0.23, so both can run at once).
DROVER_CHAOS_NET=${NET:-127.0.25} DROVER_CHAOS_ROUNDS=$ROUNDS go test -count=1 -timeout 60m -run '^TestChaosCoreMasterStalls$' -v ./cmd/drover/ >"$out" 2>&1 || rc=$?
grep -E 'chaos|--- (PASS|FAIL)|^(ok|FAIL)' "$out" | sed 's/^ *chaos_test.go:[0-9]*: //'
exit $rc
