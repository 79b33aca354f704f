#!/usr/bin/env bash
# Scale benchmark (issue 11, docs/scale.md): a local cluster of 3 masters and
# NODES simulated nodes (real agents with the fake hypervisor, one process),
# INSTANCES diskless instances made by batch-create; then it prints
#   - instance add throughput (batch-create of all instances),
#   - GET /instances of 10,000 instances: p50/p99 as a client sees them, full
#     records and selected fields, and filtered lists,
#   - leader handover with that state (SIGKILL of the leader until a new
#     leader runs a job),
#   - etcd database size and the masters' memory,
#   - the load average during the run (the machine may be shared).
# Usage:
#
#   scripts/bench-scale.sh                    # 1,000 nodes, 20,000 instances
#   NODES=200 INSTANCES=2000 scripts/bench-scale.sh
#
# Environment: DIR (cluster directory, default /tmp/drover-bench-scale),
# NET (masters' addresses NET.1-3, default 127.0.8; not 127.0.9, which TestMigrateKVM uses), LEASE_TTL (nodes' lease
# TTL, default 30 s), SESSION_TTL (masters' election session TTL, default 5 s:
# 2 s sessions expired again and again at load 20; a killed leader is
# replaced sooner anyway, docs/scale.md), ETCD_TICK_MS and ETCD_ELECTION_MS
# (the embedded etcd's heartbeat and election timeout, default 150 and 1500 ms
# instead of production's 100 and 500: a member starved of CPU for up to 1.5 s
# keeps its leadership, and a killed etcd leader is replaced within 1.5-3 s;
# docs/scale.md; SESSION_TTL must be at least 1.5 election timeouts), ETCD_COMPACTION (the embedded etcd's compaction
# retention, default 5m instead of 1h, as Kubernetes compacts: job records
# rewritten at every checkpoint no longer pile up as revisions for an hour),
# PARALLEL (batch jobs at once, default 10),
# CHUNK (instances per batch-create, default 1,000), CREATE_BUDGET (seconds:
# submit no further file of instances after that; default none),
# CREATE_UNTIL (a time for date -d, e.g. 02:10: the same, at a clock
# time), CURL_REQUESTS (requests of each curl shape, default 200, so that a
# p99 is not one request's worst), KEEP=1
# leaves the cluster running at the end. Needs no root; about 30 minutes at
# the default size on 2 cores.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=${NODES:-1000}
INSTANCES=${INSTANCES:-20000}
DIR=${DIR:-/tmp/drover-bench-scale}
NET=${NET:-127.0.8}
LEASE_TTL=${LEASE_TTL:-30}
SESSION_TTL=${SESSION_TTL:-5}
ETCD_TICK_MS=${ETCD_TICK_MS:-150}
ETCD_ELECTION_MS=${ETCD_ELECTION_MS:-1500}
ETCD_COMPACTION=${ETCD_COMPACTION:-5m}
PARALLEL=${PARALLEL:-10}
CHUNK=${CHUNK:-1000}
CREATE_BUDGET=${CREATE_BUDGET:-}
CREATE_UNTIL=${CREATE_UNTIL:-}
CURL_REQUESTS=${CURL_REQUESTS:-200}
BIN=$DIR.bin/drover

say() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

mkdir -p "$DIR.bin"
(cd "$ROOT" && go build -o "$BIN" ./cmd/drover)
if [ -e "$DIR" ]; then
	"$BIN" local down --dir "$DIR" >/dev/null 2>&1 || true
	rm -rf "$DIR"
fi
LOAD_START=$(loadavg)
ETCD="etcd tick $ETCD_TICK_MS ms, election $ETCD_ELECTION_MS ms, compaction $ETCD_COMPACTION; session TTL $SESSION_TTL s"
say "starting 3 masters and $NODES simulated nodes in $DIR ($ETCD; load $LOAD_START)"
"$BIN" local up --dir "$DIR" --masters 3 --nodes 0 --sim-nodes "$NODES" --master-net "$NET" \
	--node-lease-ttl "$LEASE_TTL" --session-ttl "$SESSION_TTL" \
	--etcd-tick-ms "$ETCD_TICK_MS" --etcd-election-ms "$ETCD_ELECTION_MS" --etcd-compaction-retention "$ETCD_COMPACTION" \
	--timeout 5m >"$DIR.up.log" 2>&1 &
UP=$!
cleanup() {
	if [ "${KEEP:-0}" != 1 ]; then
		"$BIN" local down --dir "$DIR" >/dev/null 2>&1 || true
		wait "$UP" 2>/dev/null || true
	fi
}
trap cleanup EXIT
for _ in $(seq 1 1800); do
	[ -e "$DIR/drover.env" ] && break
	kill -0 "$UP" 2>/dev/null || { cat "$DIR.up.log" >&2; exit 1; }
	sleep 1
done
# shellcheck disable=SC1091
. "$DIR/drover.env"
export DROVER_API DROVER_TOKEN DROVER_CA
online() { "$BIN" node list --no-headers -o name --filter status=online | wc -l; }
T0=$(date +%s)
until [ "$(online)" -ge "$NODES" ]; do
	[ $(($(date +%s) - T0)) -lt 900 ] || { say "only $(online) of $NODES nodes online"; exit 1; }
	sleep 5
done
say "$NODES nodes online ($(($(date +%s) - T0)) s after their process started)"

# A tiny root filesystem as template: diskless instances need no install.
TPL=$DIR.bin/tiny
mkdir -p "$TPL/etc" "$TPL/bin"
echo "root:x:0:0:root:/root:/bin/sh" >"$TPL/etc/passwd"
printf 'ID=debian\nVERSION_CODENAME=bookworm\n' >"$TPL/etc/os-release"
printf '#!fake\n' >"$TPL/bin/sh"
tar czf "$DIR.bin/tiny.tar.gz" -C "$TPL" .
"$BIN" template import tiny "$DIR.bin/tiny.tar.gz" >/dev/null

# gnt-instance batch-create's format; instance i on node i mod NODES, so the
# jobs of 100 consecutive instances lock disjoint nodes. In files of CHUNK
# instances, one batch-create each, so that a CREATE_BUDGET can end the
# creation between two files on a slow machine.
chunk() {
	awk -v from="$1" -v n="$2" -v nodes="$NODES" 'BEGIN {
		printf "["
		for (i = from; i < from + n; i++)
			printf "%s{\"instance_name\": \"i%05d\", \"disk_template\": \"diskless\", \"os_type\": \"tiny\", \"pnode\": \"sim%d\", \"beparams\": {\"maxmem\": 128, \"vcpus\": 1}}", (i > from ? "," : ""), i, i % nodes + 1
		print "]"
	}'
}
say "batch-create of $INSTANCES instances ($PARALLEL jobs at a time, files of $CHUNK${CREATE_BUDGET:+, budget $CREATE_BUDGET s}${CREATE_UNTIL:+, until $CREATE_UNTIL})"
TC0=$(date +%s)
if [ -n "$CREATE_UNTIL" ]; then
	UNTIL=$(($(date -d "$CREATE_UNTIL" +%s) - TC0))
	if [ -z "$CREATE_BUDGET" ] || [ "$UNTIL" -lt "$CREATE_BUDGET" ]; then CREATE_BUDGET=$UNTIL; fi
fi
MADE=0
: >"$DIR.create.log"
while [ "$MADE" -lt "$INSTANCES" ]; do
	N=$((INSTANCES - MADE < CHUNK ? INSTANCES - MADE : CHUNK))
	chunk "$MADE" "$N" >"$DIR.bin/instances.json"
	OUT=$("$BIN" instance batch-create --parallel "$PARALLEL" "$DIR.bin/instances.json" 2>>"$DIR.create.log" | tail -1) || true
	MADE=$((MADE + N))
	say "instances $((MADE - N))-$((MADE - 1)): $OUT (load $(loadavg))"
	if [ -n "$CREATE_BUDGET" ] && [ $(($(date +%s) - TC0)) -ge "$CREATE_BUDGET" ] && [ "$MADE" -lt "$INSTANCES" ]; then
		say "creation budget of $CREATE_BUDGET s used: stopping at $MADE of $INSTANCES submitted"
		break
	fi
done
TC=$(($(date +%s) - TC0))
LOAD_CREATE=$(loadavg)
# The CLI's list of every instance (pages of 2,000, fields= of its columns).
TL0=$(date +%s.%N)
COUNT=$("$BIN" instance list --no-headers -o name | wc -l)
TL1=$(date +%s.%N)
"$BIN" instance list >/dev/null
TL2=$(date +%s.%N)
CLI="instance list of all $COUNT: names only $(echo "$TL1 - $TL0" | bc) s, default columns $(echo "$TL2 - $TL1" | bc) s (pages of 2,000, fields=)"
ADD="$COUNT instances listed after $TC s of batch-create ($(echo "scale=1; $COUNT / $TC" | bc)/s)"
say "$ADD (load $LOAD_CREATE)"

# Lists, against a follower (any master serves reads; the leader runs jobs).
LEADER=$("$BIN" cluster info --output json | sed -n 's/.*"leader": *"\([^"]*\)".*/\1/p' | head -1)
FOLLOWER=""
for m in m1 m2 m3; do [ "$m" != "$LEADER" ] && FOLLOWER=$m && break; done
FURL=$(echo "$DROVER_API" | tr ',' '\n' | sed -n "${FOLLOWER#m}p")
say "lists against follower $FOLLOWER ($FURL); leader $LEADER"
LIST=()
LIST+=("$(DROVER_API=$FURL "$BIN" bench-list --requests 100 --limit 10000)")
LIST+=("$(DROVER_API=$FURL "$BIN" bench-list --requests 100 --limit 10000 --fields name,status,primary_node)")
LIST+=("$(DROVER_API=$FURL "$BIN" bench-list --requests 100 --limit 10000 --filter node=sim7)")
LIST+=("$(DROVER_API=$FURL "$BIN" bench-list --requests 100 --limit 10000 --filter name_prefix=i019 --filter status=running)")
LIST+=("$(DROVER_API=$FURL "$BIN" bench-list --requests 100 --limit 10000 --fields name,status --filter status=running)")
LIST+=("$(DROVER_API=$FURL "$BIN" bench-list --requests 100 --limit 1000)")
# The same answers to their last byte, undecoded (curl, one connection): what
# the master and the transport cost without a Go client's JSON decoding.
ttlb() {
	local args=()
	for _ in $(seq "$CURL_REQUESTS"); do args+=(-o /dev/null "$FURL/api/v1/instances?$1"); done
	curl -s --cacert "$DROVER_CA" -H "Authorization: Bearer $DROVER_TOKEN" -w '%{time_total} %{size_download}\n' "${args[@]}" |
		sort -n | awk -v q="$1" '{ t[NR] = $1; sz = $2 } END {
			i = int(NR * 0.99) + 1
			if (i > NR) i = NR
			printf "curl ?%s: %d requests to the last byte (%.2f MiB each), p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
				q, NR, sz / 1048576, t[int(NR / 2) + 1] * 1000, t[i] * 1000, t[NR] * 1000 }'
}
TTLB=()
TTLB+=("$(ttlb limit=10000 || true)")
TTLB+=("$(ttlb 'limit=10000&fields=name,status,primary_node' || true)")
TTLB+=("$(ttlb limit=1000 || true)")
TTLB+=("$(ttlb 'node=sim7' || true)")
LOAD_LIST=$(loadavg)
printf '%s\n' "${LIST[@]}" "${TTLB[@]}" >&2

# etcd writes while nothing is asked of the cluster (agents' statuses and
# domain states; lease renewals are no writes): revisions per second over a
# minute, from m1's etcd metrics.
etcd_metric() { # member (1-3), metric name
	curl -s --cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/m$1.crt" --key "$DIR/pki/m$1.key" "https://$NET.$1:2379/metrics" |
		sed -n "s/^$2 \([0-9.e+]*\)$/\1/p"
}
etcd_rev() { etcd_metric 1 etcd_debugging_mvcc_current_revision; }
# Before the hand-over (which is one leader change by design): how often the
# etcd members changed leader during the run, and the sim agents' lost
# leases and new grants.
LEADER_CHANGES=""
for i in 1 2 3; do LEADER_CHANGES+="m$i $(etcd_metric "$i" etcd_server_leader_changes_seen_total || true)  "; done
SELF_FENCES=$(grep -c lease_lost_self_fence "$DIR/log/sim.log" || true)
GRANTS=$(grep -c lease_granted "$DIR/log/sim.log" || true)
R0=$(etcd_rev || true)
sleep 60
R1=$(etcd_rev || true)
WRITES="unknown (etcd not readable)"
if [ -n "$R0" ] && [ -n "$R1" ]; then WRITES="$(((R1 - R0) / 60)) revisions/s ($R0 to $R1 in 60 s)"; fi

DB=$(du -b "$DIR/data/m1/member/snap/db" | cut -f1)
DB_IN_USE=$(etcd_metric 1 etcd_mvcc_db_total_size_in_use_in_bytes || true)
DB_IN_USE=$(printf '%.0f' "${DB_IN_USE:-0}")
MEM=""
for m in m1 m2 m3; do
	MEM+="$m $(($(ps -o rss= -p "$(cat "$DIR/run/$m.pid")") / 1024)) MiB  "
done
SIM=$(($(ps -o rss= -p "$(cat "$DIR/run/sim.pid")") / 1024))

# Handover: SIGKILL of the leader, then until another master leads and has
# run a job (debug delay of 1 ms, one step) submitted right after the kill
# (the CLI refuses --duration 0s: that is why the first runs never saw one).
say "handover: SIGKILL of leader $LEADER"
T0=$(date +%s.%N)
kill -9 "$(cat "$DIR/run/$LEADER.pid")"
NEW=""
until [ -n "$NEW" ] && [ "$NEW" != "$LEADER" ]; do
	NEW=$("$BIN" cluster info --output json 2>/dev/null | sed -n 's/.*"leader": *"\([^"]*\)".*/\1/p' | head -1 || true)
done
T1=$(date +%s.%N)
# The first answers after the kill may be errors (the old leader's
# address, a master not yet leading): retry until the job has run.
# Submitted to the follower of the lists, which stays up.
JOB="no job ran within 300 tries"
for _ in $(seq 300); do
	LAST=$(DROVER_API=$FURL "$BIN" debug delay --duration 1ms --steps 1 2>&1) && JOB="" && break
	sleep 0.1
done
T2=$(date +%s.%N)
[ -z "$JOB" ] || JOB="$JOB (last: $(echo "$LAST" | tail -1))"
"$BIN" local start --dir "$DIR" "$LEADER" >/dev/null || say "local start $LEADER failed"
LOAD_END=$(loadavg)

cat <<OUT

drover scale benchmark: 3 masters, $NODES simulated nodes (lease TTL $LEASE_TTL s), $COUNT instances
  $ETCD
  instance add (batch-create, $PARALLEL jobs at once): $ADD
  $CLI
  ${LIST[0]}
  ${LIST[1]}
  ${LIST[2]}
  ${LIST[3]}
  ${LIST[4]}
  ${LIST[5]}
  ${TTLB[0]}
  ${TTLB[1]}
  ${TTLB[2]}
  ${TTLB[3]}
  etcd writes at rest: $WRITES
  leader handover after SIGKILL of $LEADER: new leader $NEW after $(echo "$T1 - $T0" | bc) s, first job done after $(echo "$T2 - $T0" | bc) s $JOB
  etcd database (m1): $((DB / 1024 / 1024)) MiB, $((DB_IN_USE / 1024 / 1024)) MiB of it in use
  etcd leader changes before the hand-over (members' counts since their start): $LEADER_CHANGES
  simulated nodes' lease grants $GRANTS, self-fences $SELF_FENCES (one grant each at the start)
  master memory (RSS): $MEM
  simulated nodes' process (RSS): $SIM MiB
  load average (1/5/15 min): start $LOAD_START, after create $LOAD_CREATE, after lists $LOAD_LIST, end $LOAD_END
OUT
