package libvirt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/domxml"
)

// Console implements hv.Driver: it opens the file the domain's serial console
// writes to (DomainSpec.ConsoleLog). Domains with only a pty console (lxc),
// and the test hypervisor, which runs no guest, have no log: ErrUnsupported.
func (d *Driver) Console(ctx context.Context, name string) (io.ReadCloser, error) {
	if d.opts.Kind == hv.KindTest {
		return nil, fmt.Errorf("libvirt: console %q: the test hypervisor runs no guest: %w", name, hv.ErrUnsupported)
	}
	var x string
	err := d.call(ctx, func(l *golibvirt.Libvirt) error {
		dom, err := l.DomainLookupByName(name)
		if err != nil {
			return err
		}
		x, err = l.DomainGetXMLDesc(dom, 0)
		return err
	})
	if err != nil {
		return nil, mapErr("console", name, err)
	}
	p, err := domxml.Parse([]byte(x))
	if err != nil {
		return nil, err
	}
	if p.ConsoleLog == "" {
		return nil, fmt.Errorf("libvirt: console %q: no file-backed serial console: %w", name, hv.ErrUnsupported)
	}
	f, err := os.Open(p.ConsoleLog)
	if errors.Is(err, fs.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil // never started
	}
	if err != nil {
		return nil, fmt.Errorf("libvirt: console %q: %w", name, err)
	}
	return f, nil
}

func sortInfos(s []hv.DomainInfo) {
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
}
