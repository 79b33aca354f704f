// Package drbd drives DRBD 8.4 and 9 on a node: it writes resource files,
// runs drbdadm (create-md, up, adjust, primary, secondary, down, resize) and
// follows the kernel's state through `drbdsetup events2`.
package drbd
