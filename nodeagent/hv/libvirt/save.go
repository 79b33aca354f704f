package libvirt

import (
	"context"
	"fmt"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/drover-project/drover/nodeagent/hv"
)

// Save implements hv.Saver: the running domain's memory and device state go
// to path (written by libvirtd as root) and the domain stops; its
// definition stays.
func (d *Driver) Save(ctx context.Context, name, path string) error {
	running := func(s hv.DomainState) bool { return s == hv.StateRunning || s == hv.StatePaused }
	return d.onDomain(ctx, "save", name, d.opts.LongCallTimeout, running, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
		return l.DomainSaveFlags(dom, path, golibvirt.OptString{}, 0)
	})
}

// Restore implements hv.Saver: the domain saved at path runs again, with
// paths replaced in the definition stored in the file (another node's disk
// and console paths). A persistent domain of the same name and UUID must
// be defined here for the restored one to stay defined when it stops.
func (d *Driver) Restore(ctx context.Context, path string, paths map[string]string) error {
	err := d.callTimeout(ctx, d.opts.LongCallTimeout, func(l *golibvirt.Libvirt) error {
		var dxml golibvirt.OptString
		if len(paths) > 0 {
			x, err := l.DomainSaveImageGetXMLDesc(path, uint32(golibvirt.DomainXMLSecure))
			if err != nil {
				return err
			}
			if x, err = replacePaths(x, paths); err != nil {
				return fmt.Errorf("saved domain xml: %w", err)
			}
			dxml = golibvirt.OptString{x}
		}
		return l.DomainRestoreFlags(path, dxml, uint32(golibvirt.DomainSaveRunning))
	})
	return mapErr("restore", path, err)
}
