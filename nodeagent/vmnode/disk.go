package vmnode

import "fmt"

// With local up --vm-disk-faults, a node guest's storage (the agent's volume
// group, under every DRBD lower device) sits on a device-mapper device over
// its virtio disk, so that the
// lab can make the disk slow or failing while the node runs (drover local
// fault --slow-disk|--fail-disk|--heal-disk, docs/ha.md "Disk faults"):
// the device's table is switched with dmsetup suspend, reload and resume
// between linear (healthy), delay (every read and write waits
// SlowDiskDelayMS) and flakey (every read and write fails: up 0 s, down for
// a day). The guest's /bin/drover-disk does the switch.

// NodeDiskName is the device-mapper name of the node disk (/dev/mapper/...);
// it has no '-', so it cannot clash with an LV of the "drover" VG.
const NodeDiskName = "nodedisk"

// NodeDiskLower is the virtio disk under it.
const NodeDiskLower = "/dev/vda"

// SlowDiskDelayMS is how long every read and write of a slow disk waits.
const SlowDiskDelayMS = 500

// DiskModes are the tables /bin/drover-disk switches between.
var DiskModes = []string{"linear", "slow", "fail"}

// DiskTable is the device-mapper table of mode over sectors 512-byte
// sectors of lower (what /bin/drover-disk loads, in Go for the tests).
func DiskTable(mode string, sectors int64, lower string) (string, error) {
	switch mode {
	case "linear":
		return fmt.Sprintf("0 %d linear %s 0", sectors, lower), nil
	case "slow":
		return fmt.Sprintf("0 %d delay %s 0 %d", sectors, lower, SlowDiskDelayMS), nil
	case "fail":
		return fmt.Sprintf("0 %d flakey %s 0 0 86400", sectors, lower), nil
	}
	return "", fmt.Errorf("vmnode: disk mode %q: want linear, slow or fail", mode)
}

// diskScript is /bin/drover-disk MODE: the node disk's table becomes MODE's
// ("create" makes the device, linear, at boot; the others refuse when it
// was not made). The tables are DiskTable's. It
// refuses a mode whose target the kernel lacks (a kernel without dm-delay
// or dm-flakey) and prints one line of error on failure.
var diskScript = fmt.Sprintf(`#!/bin/sh
# drover-disk create|linear|slow|fail: the node disk's device-mapper table
# (create: made, linear, at boot; the others switch an existing one)
name=%[1]s
lower=%[2]s
sz=$(cat ${SYSFS:-/sys}/block/${lower#/dev/}/size)
case "$1" in
create|linear) target=linear; table="0 $sz linear $lower 0";;
slow) target=delay; table="0 $sz delay $lower 0 %[3]d";;
fail) target=flakey; table="0 $sz flakey $lower 0 0 86400";;
*) echo "drover-disk: unknown mode '$1' (linear, slow, fail)"; exit 2;;
esac
if ! dmsetup targets | grep -q "^$target "; then
  echo "drover-disk: this guest's kernel has no dm-$target target (the kit lacks the module)"; exit 3
fi
dev=${DEV:-/dev}/mapper/$name
if ! dmsetup info "$name" >/dev/null 2>&1; then
  if [ "$1" != create ]; then
    echo "drover-disk: this guest has no node disk device (local up --vm-disk-faults makes it)"; exit 4
  fi
  out=$(dmsetup create --noudevsync "$name" --table "$table" 2>&1) || { echo "drover-disk: create: $out" | tr '\n' ' '; echo; exit 1; }
  # No udev in the guest: make the node ourselves.
  dmsetup mknodes "$name" >/dev/null 2>&1
  if [ ! -e "$dev" ]; then
    mm=$(dmsetup info -c --noheadings -o major,minor "$name" | tr -d ' ')
    mkdir -p "${dev%%/*}"; mknod "$dev" b "${mm%%%%:*}" "${mm##*:}"
  fi
  [ -e "$dev" ] || { echo "drover-disk: no $dev after create"; exit 1; }
  exit 0
fi
out=$( { dmsetup suspend --noudevsync "$name" && dmsetup reload "$name" --table "$table"; } 2>&1)
rc=$?
res=$(dmsetup resume --noudevsync "$name" 2>&1) || { echo "drover-disk: resume: $res" | tr '\n' ' '; echo; exit 1; }
if [ $rc -ne 0 ]; then echo "drover-disk: $1: $out" | tr '\n' ' '; echo; exit 1; fi
exit 0
`, NodeDiskName, NodeDiskLower, SlowDiskDelayMS)

// faultScript is /bin/drover-fault, run by nc for each connection to the
// guest's fault port: one command in, one line out ("ok" or why not).
const faultScript = `#!/bin/sh
read c
case "$c" in
kill-agent) kill -9 $(cat /run/drover-agent.pid) && echo ok || echo "kill failed";;
dump-agent) kill -USR1 $(cat /run/drover-agent.pid) && echo ok || echo "signal failed";;
slow-disk) out=$(/bin/drover-disk slow 2>&1) && echo ok || echo "slow-disk failed: $out";;
fail-disk) out=$(/bin/drover-disk fail 2>&1) && echo ok || echo "fail-disk failed: $out";;
heal-disk) out=$(/bin/drover-disk linear 2>&1) && echo ok || echo "heal-disk failed: $out";;
disk-table) dmsetup table ` + NodeDiskName + ` 2>&1 | head -1;;
*) echo "unknown fault $c";;
esac
`
