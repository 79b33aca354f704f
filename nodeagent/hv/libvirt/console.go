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

// Console implements hv.Driver: it opens the file the domain's console is
// logged to (DomainSpec.ConsoleLog): by QEMU for VMs, by the driver's copy of
// the pty console for containers (see capture.go). A container without a
// console log gets a live stream of what it prints from now on, over a
// connection of its own, until Close (ErrWrongState if it is not running).
// The test hypervisor runs no guest: ErrUnsupported.
func (d *Driver) Console(ctx context.Context, name string) (io.ReadCloser, error) {
	switch d.opts.Kind {
	case hv.KindTest:
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
	path := p.ConsoleLog
	if d.opts.Kind == hv.KindLXC {
		if p.MetaConsoleLog == "" {
			return d.liveConsole(ctx, name)
		}
		path = p.MetaConsoleLog
	}
	if path == "" {
		return nil, fmt.Errorf("libvirt: console %q: no file-backed serial console: %w", name, hv.ErrUnsupported)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil // never started
	}
	if err != nil {
		return nil, fmt.Errorf("libvirt: console %q: %w", name, err)
	}
	return f, nil
}

// liveConsole streams a running domain's pty console over a dedicated
// connection: go-libvirt streams cannot be cancelled, so Close kills that
// connection.
func (d *Driver) liveConsole(ctx context.Context, name string) (io.ReadCloser, error) {
	if st, err := d.State(ctx, name); err != nil {
		return nil, err
	} else if !st.Active() {
		return nil, fmt.Errorf("libvirt: console %q: domain is %s: %w", name, st, hv.ErrWrongState)
	}
	c, err := d.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("libvirt: console %q: %w: %w", name, hv.ErrHypervisorDown, err)
	}
	var dom golibvirt.Domain
	err = d.do(ctx, c, d.opts.CallTimeout, func(l *golibvirt.Libvirt) error {
		var err error
		dom, err = l.DomainLookupByName(name)
		return err
	})
	if err != nil {
		c.kill(err)
		return nil, mapErr("console", name, err)
	}
	pr, pw := io.Pipe()
	go func() {
		err := c.l.DomainOpenConsole(dom, nil, pw, 0)
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
		c.kill(errors.New("console closed"))
	}()
	return &streamReader{PipeReader: pr, conn: c}, nil
}

type streamReader struct {
	*io.PipeReader
	conn *conn
}

func (r *streamReader) Close() error {
	r.conn.kill(errors.New("console closed by reader"))
	return r.PipeReader.Close()
}

func sortInfos(s []hv.DomainInfo) {
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
}
