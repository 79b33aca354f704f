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
// writes to (DomainSpec.ConsoleLog). LXC containers have only a pty console:
// for them Console streams what the container prints from now on, over a
// connection of its own, until Close (ErrWrongState if it is not running).
// The test hypervisor runs no guest: ErrUnsupported.
func (d *Driver) Console(ctx context.Context, name string) (io.ReadCloser, error) {
	switch d.opts.Kind {
	case hv.KindTest:
		return nil, fmt.Errorf("libvirt: console %q: the test hypervisor runs no guest: %w", name, hv.ErrUnsupported)
	case hv.KindLXC:
		return d.liveConsole(ctx, name)
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
