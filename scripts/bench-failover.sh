#!/usr/bin/env bash
# Failover benchmark of issue 9: on one `local up --vm-nodes 3` cluster (DRBD
# 8.4, a BMC per node guest, lease TTL TTL=10 s by default, as `local up --vm-nodes`) with three drbd
# instances running the workload driver, N times (ROUNDS=N, default 20):
# power off the node guest of one instance's primary (`drover local fault
# --power-off`), measure until its instances run on their secondaries
# (fencing included), power it on again (`node power on`, through its BMC)
# and wait until every instance is redundant again. Prints each death with
# its phases, p50 and max. Runs cmd/drover's TestVMNodesBenchFailover (root,
# QEMU, drbd-utils, fence-agents, openipmi) under the machine-wide VM lock
# /work/vm.lock when it exists (VM_LOCK= to change). NICE=N renices the
# guests' QEMU processes (on a host loaded by other work a TCG guest can be
# starved longer than a 5 s lease allows; unset by default). About 1-2 min a
# round on 2 shared cores. The masters' logs and the guests' consoles are
# copied out of the lab dir (removed at the end) into OUT.logs, also when
# the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-20}
TTL=${TTL:-10}
VM_LOCK=${VM_LOCK-/work/vm.lock}
out=$(mktemp /tmp/bench-failover.XXXXXX)
logs=$out.logs
echo "bench-failover: $ROUNDS node deaths, lease TTL $TTL s; full output in $out, master logs and guest consoles (also of a failed run) in $logs"
run=(go test -count=1 -timeout $((10 + 4 * ROUNDS))m -run '^TestVMNodesBenchFailover$' -v ./cmd/drover/)
if [ -n "$VM_LOCK" ] && [ -e "$(dirname "$VM_LOCK")" ]; then
	run=(flock "$VM_LOCK" "${run[@]}")
fi
rc=0
DROVER_BENCH_LOGS=$logs DROVER_BENCH_NICE=${NICE:-} DROVER_BENCH_FAILOVER=$ROUNDS DROVER_BENCH_TTL=$TTL DROVER_REQUIRE_REAL=1 "${run[@]}" >"$out" 2>&1 || rc=$?
grep -E 'bench-failover|--- (PASS|FAIL|SKIP)|^(ok|FAIL)|Fatal|_test.go:[0-9]+: round' "$out" | sed 's/^ *local_vm_bench_failover_test.go:[0-9]*: //'
exit $rc
