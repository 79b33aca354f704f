package hvtest

import "testing"

// GuestCount starts each line a counting guest prints every second:
// "drover-count N UPTIME" (N counts from 1 at boot; UPTIME is the first
// field of /proc/uptime), so a test can see a guest go on running across a
// migration (N and UPTIME go on growing; no new boot).
const GuestCount = "drover-count"

// countingInit is /init of CountingInitramfs.
const countingInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "` + GuestMarker + ` counting"
n=0
while :; do n=$((n+1)); echo "` + GuestCount + ` $n $(cut -d' ' -f1 /proc/uptime)"; sleep 1; done
`

// CountingInitramfs is an initramfs like Initramfs whose /init counts on
// the console every second (GuestCount), built once into the cache. It
// never mounts a root filesystem, so it boots with any cmdline that names
// console=ttyS0.
func CountingInitramfs(t testing.TB) string {
	t.Helper()
	return buildInitramfs(t, "initramfs-counting.cpio", countingInit)
}
