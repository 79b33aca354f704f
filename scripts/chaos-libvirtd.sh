#!/usr/bin/env bash
# Fault test of a node's libvirtd (issue 9, point 6), full length: ROUNDS
# (default 30) kill -9 of a random node's libvirtd on `local up --hypervisor
# kvm` (1 master, 2 nodes, QEMU/TCG guests counting on their consoles) while
# a live migration, a shutdown or a start on that node is in flight. Runs
# cmd/drover's TestChaosLibvirtdKill (not in the default suite) and prints
# its table. Root and the Debian packages of scripts/test.sh's PKGS. It
# boots TCG guests: run it alone (flock /work/vm.lock on a shared machine).
# KINDS=migrate,shutdown,startup,none draws only those jobs. About 6-25 s a
# round.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-30}
out=$(mktemp /tmp/chaos-libvirtd.XXXXXX)
echo "chaos-libvirtd: $ROUNDS rounds; full output in $out"
rc=0
# NET: the 127.0.x prefix of the cluster's addresses (another than the
# default of the test, 127.0.2, so both can run at once).
DROVER_LVCHAOS_NET=${NET:-127.0.12} DROVER_LVCHAOS_ROUNDS=$ROUNDS DROVER_LVCHAOS_KINDS=${KINDS:-} DROVER_REQUIRE_REAL=1 \
	go test -count=1 -timeout 90m -run '^TestChaosLibvirtdKill$' -v ./cmd/drover/ >"$out" 2>&1 || rc=$?
grep -E 'lvchaos|--- (PASS|FAIL)|^(ok|FAIL)' "$out" | sed 's/^ *chaos_libvirtd_test.go:[0-9]*: //'
exit $rc
