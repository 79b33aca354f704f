// Package vmnode builds what a node guest boots: Debian's kernel (from the
// lab kit or Debian's linux-image package) and an initramfs with busybox,
// drbd-utils, lvm2 (with their libraries), the kernel modules a node needs
// (virtio, device-mapper, DRBD 8.4 or 9) and the static drover agent, plus a
// small per-node archive with its address and credentials.
package vmnode
