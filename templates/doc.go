// Package templates builds Debian root filesystems with mmdebstrap or
// debootstrap into versioned, checksummed tarballs, keeps them in a
// content-addressed store (and a per-agent cache by digest), and installs them
// onto instance disks without mounting (mkfs.ext4 -d) or into LXC root
// directories. See docs/templates.md.
package templates
