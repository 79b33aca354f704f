package drbd

import "context"

// AllowTwoPrimaries switches the resource's allow-two-primaries network
// option in the running kernel (drbdadm net-options; the resource file is
// not changed, so an adjust switches it off again). A live migration turns
// it on on both peers for its window only: promote the target, migrate,
// demote the source, then off again. Same command on DRBD 8.4 and 9.
func (a *Admin) AllowTwoPrimaries(ctx context.Context, name string, allow bool) error {
	v := "no"
	if allow {
		v = "yes"
	}
	return a.drbdadm(ctx, "", "net-options", "--allow-two-primaries="+v, name)
}
