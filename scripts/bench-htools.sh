#!/usr/bin/env bash
# Benchmark drover's allocator against Ganeti htools (hbal, hspace, hail) on
# the same generated clusters. Usage:
#
#   scripts/bench-htools.sh [SIZE...]        # default sizes: 10 20 40 100 400 1000
#
# Environment: CAP   timeout in seconds for each htools run (default 120)
#              BALCAP  timeout for hbal alone (default: 1200 s up to 40 nodes,
#                    where hbal finishes on an idle machine (about 3 s, 36 s and
#                    590 s of CPU at 10, 20 and 40 nodes), CAP above)
#              WORK  directory for the cluster files (default: a temp dir)
#              SPEC  capacity spec DISK,MEM,CPU in MiB (default 102400,8192,4)
#
# Each cluster has SIZE nodes (128 GiB, 4 TiB, 32 CPUs) and 10 DRBD instances
# per node, 75% of them crowded on 30% of the nodes. Every placement is judged
# by hbal itself: free memory and disk are re-derived from the placement
# (hbal -S keeps the original free memory after moving primaries), then
# "hbal -t FILE -l 0" prints the "Initial score". Times are CPU seconds
# (user+sys, from wait4, to the microsecond), as the machine may be shared;
# "t/o" marks a run stopped by CAP (wall-clock seconds); its ratio is then a
# lower bound: the CPU seconds the htools run had used when stopped, over
# drover's.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HT=/usr/lib/ganeti/3.0/usr/bin
HAIL=/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail
CAP=${CAP:-120}
BALCAP=${BALCAP:-}
SPEC=${SPEC:-102400,8192,4}
SIZES=${*:-10 20 40 100 400 1000}
WORK=${WORK:-$(mktemp -d /tmp/bench-htools.XXXXXX)}
mkdir -p "$WORK"

if [ ! -x "$HT/hbal" ] || [ ! -x "$HAIL" ]; then
	echo "installing ganeti-htools-3.0..." >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq && $SUDO apt-get install -y -qq ganeti-htools-3.0 >&2
fi

cd "$ROOT"
go build -o "$WORK/htbench" ./allocator/cmd/htbench
# drover-alloc is "drover alloc" alone (the allocator's packages only): it
# starts in milliseconds, as hail does (docs/allocator.md).
go build -o "$WORK/drover-alloc" ./cmd/drover-alloc
D="$WORK/drover-alloc"
B="$WORK/htbench"

# timed OUT CMD...: runs CMD with stdout to OUT, capped by TCAP (default CAP);
# sets CPU and RC. htbench time reads the CPU time from wait4 in microseconds
# (/usr/bin/time prints hundredths, too coarse for drover's small runs).
timed() {
	local out=$1
	shift
	"$B" time "$out" "$WORK/time" "${TCAP:-$CAP}" "$@"
	read -r CPU _ RC <"$WORK/time"
	CPU=$(awk -v c="$CPU" 'BEGIN{printf "%.3f", c}')
}

# drover OUT ARGS...: runs drover (never capped) like timed; also sets MEM (max RSS, MB).
drover() {
	local out=$1
	shift
	"$B" time "$out" "$WORK/time" 0 "$D" "$@"
	read -r CPU MEM RC <"$WORK/time"
	CPU=$(awk -v c="$CPU" 'BEGIN{printf "%.4f", c}')
	MEM=$(awk -v m="$MEM" 'BEGIN{printf "%.0f", m/1024}')
}

# judge FILE: hbal's own score of the placement in FILE, free space re-derived.
judge() {
	"$B" rederive "$1" >"$1.judge"
	"$HT/hbal" -t "$1.judge" -l 0 2>&1 | awk '/^Initial score/{print $3}'
}

ratio() { awk -v h="$1" -v d="$2" -v to="$3" 'BEGIN{ if (d < 0.0001) d = 0.0001; r = h/d; printf (to ? ">%.0fx" : "%.0fx"), r }'; }

REQ="$WORK/req.json"
cat >"$REQ" <<'JSON'
{"version": 2, "cluster_name": "bench", "cluster_tags": [], "enabled_hypervisors": ["kvm"],
 "nodegroups": {}, "nodes": {}, "instances": {},
 "ipolicy": {"std": {"nic-count": 1, "disk-size": 1024, "disk-count": 1, "memory-size": 128, "cpu-count": 1, "spindle-use": 1},
   "minmax": [{"min": {"nic-count": 1, "disk-size": 128, "disk-count": 1, "memory-size": 128, "cpu-count": 1, "spindle-use": 1},
               "max": {"nic-count": 8, "disk-size": 2097152, "disk-count": 16, "memory-size": 65536, "cpu-count": 16, "spindle-use": 12}}],
   "vcpu-ratio": 4.0, "disk-templates": ["drbd", "plain"], "spindle-ratio": 32.0},
 "request": {"type": "allocate", "name": "bench-new", "disk_template": "drbd", "tags": [], "os": "debian",
   "hypervisor": "kvm", "vcpus": 2, "memory": 4096, "spindle_use": 1, "required_nodes": 2,
   "disks": [{"size": 51200, "mode": "rw", "spindles": 1}], "disk_space_total": 51200,
   "nics": [{"ip": null, "mac": "00:11:22:33:44:55", "bridge": null}]}}
JSON

HTV=$(dpkg-query -W -f '${Version}' ganeti-htools-3.0 2>/dev/null || echo unknown)
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(. /etc/os-release && echo "$PRETTY_NAME"), load $(cut -d' ' -f1-3 /proc/loadavg), htools cap ${CAP}s (hbal ${BALCAP:-1200 up to 40 nodes}s), ganeti-htools-3.0 $HTV, work dir $WORK" >&2
ROWS=()
for n in $SIZES; do
	G="$WORK/g$n.data"
	"$B" gen -nodes "$n" -seed 1 >"$G"
	inst=$(awk 'BEGIN{s=0} /^$/{s++; next} s==2{c++} END{print c+0}' "$G")
	init=$(judge "$G")

	# balance
	drover "$WORK/d$n.bal.out" balance -t "$G" -S "$WORK/d$n.bal"
	dbal_cpu=$CPU
	dbal_mem=$MEM
	dmoves=$(awk -F= '/^Solution length=/{print $2}' "$WORK/d$n.bal.out")
	dscore=$(judge "$WORK/d$n.bal")
	bcap=$BALCAP
	if [ -z "$bcap" ]; then
		bcap=$CAP
		[ "$n" -gt 40 ] || bcap=$((CAP > 1200 ? CAP : 1200))
	fi
	TCAP=$bcap timed "$WORK/h$n.bal.out" "$HT/hbal" -t "$G" -S "$WORK/h$n"
	hbal_cpu=$CPU
	if [ "$RC" -eq 0 ]; then
		hmoves=$(awk -F= '/^Solution length=/{print $2}' "$WORK/h$n.bal.out")
		hscore=$(judge "$WORK/h$n.balanced")
		hbal_to=0
	else
		hmoves="t/o"; hscore="t/o"; hbal_to=1
	fi

	# capacity and allocate, both on drover's balanced cluster
	C="$WORK/d$n.bal.judge"
	drover "$WORK/d$n.cap.out" capacity -t "$C" --disk-template drbd --spec "$SPEC"
	dcap_cpu=$CPU
	# again, untimed, saving the filled cluster for hbal's N+1 check
	"$D" capacity -t "$C" --disk-template drbd --spec "$SPEC" -S "$WORK/d$n.cap" >/dev/null
	dcap=$(awk '/^Instances allocated:/{print $3}' "$WORK/d$n.cap.out")
	dcapwhy=$(awk '/^Failure reason:/{print $3}' "$WORK/d$n.cap.out")
	dcapbad=$("$HT/hbal" -t "$WORK/d$n.cap" -l 0 2>&1 | awk '/Initial check done/{print $4}')
	timed "$WORK/h$n.cap.out" "$HT/hspace" -t "$C" --disk-template drbd --standard-alloc "$SPEC" --machine-readable
	hcap_cpu=$CPU
	if [ "$RC" -eq 0 ]; then
		hcap=$(awk -F= '/^HTS_ALLOC_INSTANCES=/{print $2}' "$WORK/h$n.cap.out")
		hcapwhy=$(awk -F= '/^HTS_ALLOC_FAIL_REASON=/{print $2}' "$WORK/h$n.cap.out")
		hcap_to=0
	else
		hcap="t/o"; hcapwhy="-"; hcap_to=1
	fi

	drover "$WORK/d$n.alloc.out" allocate -t "$C" --disk-template drbd --memory 4096 --disk 51200 --vcpus 2 -o json
	dal_cpu=$CPU
	read -r dp ds < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["primary"], r.get("secondary",""))' "$WORK/d$n.alloc.out")
	"$B" add "$C" bench-new 4096 51200 2 "$dp" "$ds" >"$WORK/d$n.alloc.data"
	dalscore=$(judge "$WORK/d$n.alloc.data")
	timed "$WORK/h$n.alloc.out" "$HAIL" -t "$C" "$REQ"
	hal_cpu=$CPU
	if [ "$RC" -eq 0 ] && grep -q '"success":true' "$WORK/h$n.alloc.out"; then
		read -r hp hs < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(*r["result"])' "$WORK/h$n.alloc.out")
		"$B" add "$C" bench-new 4096 51200 2 "$hp" "$hs" >"$WORK/h$n.alloc.data"
		halscore=$(judge "$WORK/h$n.alloc.data")
		hal_to=0
	else
		halscore="t/o"; hal_to=1
	fi

	ROWS+=("$(printf '| %5s | %6s | %8s | %s / %s | %s / %s | %s | %s (%s) / %s (%s), bad nodes %s | %s | %s / %s | %s |' \
		"$n" "$inst" "$init" "$dscore" "$dmoves" "$hscore" "$hmoves" "$(ratio "$hbal_cpu" "$dbal_cpu" "$hbal_to") ($dbal_cpu s vs $hbal_cpu s; drover $dbal_mem MB)" \
		"$dcap" "$dcapwhy" "$hcap" "$hcapwhy" "$dcapbad" "$(ratio "$hcap_cpu" "$dcap_cpu" "$hcap_to") ($dcap_cpu s vs $hcap_cpu s)" \
		"$dalscore" "$halscore" "$(ratio "$hal_cpu" "$dal_cpu" "$hal_to") ($dal_cpu s vs $hal_cpu s)")")
	echo "done: $n nodes" >&2
done

echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| nodes | instances | initial score | balance drover score / moves | hbal score / moves | balance speed-up (CPU) | capacity drover / hspace ($SPEC) | capacity speed-up | allocate score drover / hail | allocate speed-up |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for r in "${ROWS[@]}"; do echo "$r"; done
