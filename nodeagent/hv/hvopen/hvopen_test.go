package hvopen_test

import (
	"context"
	"errors"
	"testing"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/hvopen"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/libvirtd"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	d, err := hvopen.Open(ctx, hvopen.Config{Kind: hv.KindFake, FakeCPUs: 2})
	if err != nil || d.Name() != hv.KindFake {
		t.Fatalf("fake: %v", err)
	}
	if r, _ := d.Resources(ctx); r.CPUs != 2 {
		t.Errorf("fake cpus %d", r.CPUs)
	}
	d.Close()
	if _, err := hvopen.Open(ctx, hvopen.Config{Kind: "vmware"}); !errors.Is(err, hv.ErrUnsupported) {
		t.Errorf("vmware: %v", err)
	}
	// A libvirtd that is not there: ErrHypervisorDown, promptly.
	if _, err := hvopen.Open(ctx, hvopen.Config{Kind: hv.KindTest, URI: "test+unix:///default?socket=/nonexistent/sock"}); !errors.Is(err, hv.ErrHypervisorDown) {
		t.Errorf("no daemon: %v", err)
	}
}

func TestOpenLibvirt(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	d, err := hvopen.Open(context.Background(), hvopen.Config{Kind: hv.KindTest, URI: dmn.URI("test"), Logger: hvtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, ok := d.(hv.Migrator); !ok {
		t.Error("libvirt driver is not an hv.Migrator")
	}
	if _, err := d.List(context.Background()); err != nil {
		t.Fatal(err)
	}
}
