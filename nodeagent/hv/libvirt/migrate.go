package libvirt

import (
	"context"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/drover-project/drover/nodeagent/hv"
)

// Migrate implements hv.Migrator: a peer-to-peer migration driven by the
// source libvirtd (one call on this connection), persistent on the
// destination and undefined here afterwards. destURI is the destination
// libvirtd as the source daemon reaches it, e.g. qemu+tcp://127.0.0.2:16510/system.
// The call is bounded by ctx (default 10 min), not by CallTimeout.
func (d *Driver) Migrate(ctx context.Context, name, destURI string, opts hv.MigrateOptions) error {
	flags := golibvirt.MigratePeer2peer | golibvirt.MigratePersistDest | golibvirt.MigrateUndefineSource
	if opts.Live {
		flags |= golibvirt.MigrateLive
	}
	if opts.CopyStorage {
		flags |= golibvirt.MigrateNonSharedDisk
	}
	if opts.Unsafe {
		flags |= golibvirt.MigrateUnsafe
	}
	var params []golibvirt.TypedParam
	str := func(k, v string) {
		if v != "" {
			params = append(params, golibvirt.TypedParam{Field: k, Value: golibvirt.TypedParamValue{D: 7, I: v}})
		}
	}
	str("migrate_uri", opts.MigrateURI)
	str("listen_address", opts.ListenAddress)
	if opts.Bandwidth > 0 {
		params = append(params, golibvirt.TypedParam{Field: "bandwidth", Value: golibvirt.TypedParamValue{D: 4, I: opts.Bandwidth}})
	}
	timeout := 10 * time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	running := func(s hv.DomainState) bool { return s == hv.StateRunning || s == hv.StatePaused }
	return d.onDomain(ctx, "migrate", name, timeout, running, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
		_, err := l.DomainMigratePerform3Params(dom, golibvirt.OptString{destURI}, params, nil, flags)
		return err
	})
}
