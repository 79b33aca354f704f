#!/usr/bin/env bash
# Chaos harness of issue 9 with node guests: on one `local up --vm-nodes`
# cluster (3 masters with embedded etcd, NODES=3 guests, DRBD 8.4, a BMC per
# guest, lease TTL TTL=10 s) with three drbd instances running the workload
# driver, ROUNDS=N faults (default 100) chosen at random (the seed is printed;
# SEED=S replays it): kill -9 of an agent, of the leading master, of a
# follower master (its etcd member), a cut link (isolate, then heal) and a
# power-off (then `node power on`), a slow or failing disk of a node for 20 s
# (then healed), cheap ones common; every OPS_EVERY=N rounds (default 2; 0:
# none) one instance operation (add, migrate, remove). Checked: never two running
# copies, no acknowledged record lost, every job final, every instance
# redundant again within 360 s. Prints the table per fault kind (detection,
# fencing, failover, whole again: p50, max; violations). Runs cmd/drover's
# TestVMNodesChaos (root, QEMU, drbd-utils, fence-agents, openipmi) under the
# machine-wide VM lock /work/vm.lock when it exists (VM_LOCK= to change).
# MINUTES=M bounds the run (default 80; no fault starts after it). NICE=N
# renices the guests' QEMU processes (as scripts/bench-failover.sh).
# SKIP=kind,... leaves fault kinds out (say why in the run's notes).
# DISK=1 adds the disk faults (the guests' disks under device-mapper: local
# up --vm-disk-faults); without it disk-slow and disk-fail are not drawn.
# LOCK_WAIT=S gives up when the lock is not free within S seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-100}
MINUTES=${MINUTES:-80}
VM_LOCK=${VM_LOCK-/work/vm.lock}
out=$(mktemp /tmp/chaos-vm.XXXXXX)
echo "chaos: $ROUNDS faults, at most $MINUTES min; full output in $out"
run=(go test -count=1 -timeout $((MINUTES + 25))m -run '^TestVMNodesChaos$' -v ./cmd/drover/)
if [ -n "$VM_LOCK" ] && [ -e "$(dirname "$VM_LOCK")" ]; then
	run=(flock ${LOCK_WAIT:+-w "$LOCK_WAIT"} "$VM_LOCK" "${run[@]}")
fi
rc=0
DROVER_CHAOS_VM=$ROUNDS DROVER_CHAOS_MINUTES=$MINUTES DROVER_CHAOS_SEED=${SEED:-} DROVER_CHAOS_NODES=${NODES:-3} DROVER_CHAOS_MASTERS=${MASTERS:-3} DROVER_CHAOS_SKIP=${SKIP:-} \
	DROVER_CHAOS_DISK=${DISK:-} DROVER_CHAOS_TTL=${TTL:-10} DROVER_CHAOS_OPS_EVERY=${OPS_EVERY:-2} DROVER_BENCH_NICE=${NICE:-} DROVER_REQUIRE_REAL=1 "${run[@]}" >"$out" 2>&1 || rc=$?
sed -n '/chaos-vm table/,/^=== \|^--- /p' "$out" | sed 's/^ *local_vm_chaos_test.go:[0-9]*: //'
grep -E 'chaos-vm|--- (PASS|FAIL|SKIP)|^(ok|FAIL)|Fatal' "$out" | grep -v 'chaos-vm table' | sed 's/^ *local_vm_chaos[a-z_]*_test.go:[0-9]*: //'
exit $rc
