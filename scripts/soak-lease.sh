#!/usr/bin/env bash
# No-fault soak of the node leases (issue 7): a local cluster of 3 masters and
# 3 agents (fake hypervisor) runs for DURATION (default 30m) with nothing
# injected; then the agents' logs are counted. Not part of CI.
#
#   scripts/soak-lease.sh              # 30 minutes
#   DURATION=5m scripts/soak-lease.sh
#   TTL=3 scripts/soak-lease.sh       # the agents' lease TTL (default 5, as cluster init)
#
# It prints, per agent and in total: keep-alive attempts a member did not
# answer (keepalive_attempt_failed: the next member was tried), renewals that
# failed (keepalive_failed, lease_lost_self_fence), invalid auth token errors
# and self-fences. Exit 0 only when no renewal failed and nothing fenced.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30m}
TTL=${TTL:-5}
NET=${NET:-127.0.8}  # masters NET1.i, agents NET2.i (not 127.0.9: TestMigrateKVM uses it)
DIR=$(mktemp -d /tmp/drover-soak.XXXXXX)
go build -o "$DIR/drover" ./cmd/drover
"$DIR/drover" local up --dir "$DIR/c" --masters 3 --nodes 3 --master-net "${NET}1" --node-net "${NET}2" --node-lease-ttl "$TTL" >"$DIR/up.log" 2>&1 &
UP=$!
cleanup() { "$DIR/drover" local down --dir "$DIR/c" >/dev/null 2>&1 || true; wait "$UP" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 180); do [ -f "$DIR/c/drover.env" ] && break; sleep 1; done
[ -f "$DIR/c/drover.env" ] || { cat "$DIR/up.log"; exit 1; }
echo "soak: cluster up in $DIR/c; lease TTL ${TTL}s; running $DURATION without faults ($(date -u +%H:%M:%S) UTC)"
sleep "$DURATION"
. "$DIR/c/drover.env"
"$DIR/drover" node list || true
count() { grep -c -- "$1" "$2" 2>/dev/null || true; }
bad=0
printf '%-8s %10s %10s %10s %10s %10s\n' agent attempts renewals authtoken fences granted
for f in "$DIR"/c/log/node*.log; do
	a=$(count 'msg=keepalive_attempt_failed' "$f")
	r=$(( $(count 'msg=keepalive_failed' "$f") + $(count 'msg=lease_lost_self_fence' "$f") ))
	t=$(count 'invalid auth token' "$f")
	s=$(count 'msg=self_fence_' "$f")
	g=$(count 'msg=lease_granted' "$f")
	printf '%-8s %10s %10s %10s %10s %10s\n' "$(basename "$f" .log)" "$a" "$r" "$t" "$s" "$g"
	bad=$(( bad + r + t + s + g - 1 ))
done
echo "soak: $DURATION, TTL ${TTL}s, 3 masters, 3 agents, load average now $(cut -d' ' -f1-3 /proc/loadavg); failed renewals + auth token errors + fences + extra grants = $bad"
[ "$bad" -eq 0 ]
