package drbd

import (
	"context"
	"fmt"
	"strconv"
)

// Changing a resource's peers (replace-disks): the resource file is
// rewritten with the new set of hosts and `drbdadm adjust` makes the kernel
// match it. On DRBD 9 adjust connects to a host the file names newly and
// deletes the connection of one it no longer names (del-peer); on DRBD 8.4
// (one peer) the old connection is disconnected first. See docs/drbd.md,
// "Replacing a secondary".

// Disconnect drops the resource's connections; its disk stays attached
// (and, as a secondary, consistent).
func (a *Admin) Disconnect(ctx context.Context, name string) error {
	return a.drbdadm(ctx, "", "disconnect", name)
}

// ForceDisconnect drops the resource's connections without the state
// handshake with the peer (drbdsetup's --force): for a peer that is dead
// for certain.
func (a *Admin) ForceDisconnect(ctx context.Context, name string) error {
	return a.drbdadm(ctx, "", "disconnect", "--force", name)
}

// Connect connects a StandAlone resource; discardMyData makes this node the
// split-brain victim: its changes since the split are thrown away and it
// resyncs from the peer.
func (a *Admin) Connect(ctx context.Context, name string, discardMyData bool) error {
	if discardMyData {
		return a.drbdadm(ctx, "", "connect", "--discard-my-data", name)
	}
	return a.drbdadm(ctx, "", "connect", name)
}

// ForgetPeer frees the bitmap slot of a peer whose connection is gone
// (DRBD 9's `drbdsetup forget-peer`): metadata made with --max-peers=3 has
// three slots, and every replaced secondary would otherwise keep one.
func (a *Admin) ForgetPeer(ctx context.Context, name string, nodeID int) error {
	if a.Version.Major < 9 {
		return fmt.Errorf("%w %q: forget-peer needs DRBD 9, this is %s", ErrInvalid, name, a.Version)
	}
	run := a.Run
	if run == nil {
		run = ExecRunner
	}
	_, err := run(ctx, "", "drbdsetup", "forget-peer", name, strconv.Itoa(nodeID))
	return err
}
