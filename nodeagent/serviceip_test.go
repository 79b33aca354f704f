package nodeagent

// An instance's service address on the hosts of a network lab (root): held
// by the node whose domain of the instance runs, taken off when the domain
// stops there, announced by the next node, kept across an agent restart,
// dropped by a self-fence and when the record loses it.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/floatip/netnslab"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/realtest"
)

func TestServiceIPFollowsTheDomain(t *testing.T) {
	realtest.NeedRoot(t, "network namespaces")
	realtest.NeedBinaries(t, "ip")
	lab := netnslab.New(t, "sip")
	n1, n2 := lab.AddHost("n1", "198.19.78.1"), lab.AddHost("n2", "198.19.78.2")
	cl := lab.AddHost("cl", "198.19.78.100")
	addr := netip.MustParseAddr("198.19.78.60")
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	dir1, dir2 := t.TempDir(), t.TempDir()
	s1, s2 := newServiceIPs(dir1, log), newServiceIPs(dir2, log)
	web := keys.InstanceRecord{Name: "web", UUID: "u1", PrimaryNode: "n1", ServiceIP: addr.String() + "/24@eth0"}
	start := keys.NodeCommand{ID: "1-0-start-u1", Kind: keys.CmdInstanceStart, Instance: web}
	s1.note(start)
	s2.note(start) // e.g. a disk command on the DRBD secondary
	on := map[string]bool{"web": true}
	reconcile := func(h *netnslab.Host, s *serviceIPs, running map[string]bool) {
		t.Helper()
		if err := h.In(func() error { s.reconcile(ctx, running); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	holders := func() (bool, bool) {
		a, _ := n1.Holds(addr)
		b, _ := n2.Holds(addr)
		return a, b
	}

	reconcile(n1, s1, on)
	reconcile(n2, s2, nil) // its copy is not running: nothing
	if a, b := holders(); !a || b {
		t.Fatalf("domain runs on n1: holders n1=%t n2=%t, want n1 only", a, b)
	}
	err := cl.Dial(net.JoinHostPort(addr.String(), "9"), 2*time.Second, func(net.Conn) error { return nil })
	if err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("client to %s: %v", addr, err)
	}
	if got, want := cl.NeighMAC(addr.String()), n1.MAC("eth0"); got != want {
		t.Fatalf("client's entry: %q, want n1's %q", got, want)
	}

	// The domain stops on n1 (failover: n1 fenced itself) and runs on n2.
	if err := n1.In(func() error { s1.dropAll(); return nil }); err != nil {
		t.Fatal(err)
	}
	if a, _ := holders(); a {
		t.Fatal("n1 still holds the address after its self-fence")
	}
	reconcile(n2, s2, on)
	if a, b := holders(); a || !b {
		t.Fatalf("domain runs on n2: holders n1=%t n2=%t, want n2 only", a, b)
	}
	deadline := time.Now().Add(3 * time.Second)
	for cl.NeighMAC(addr.String()) != n2.MAC("eth0") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got, want := cl.NeighMAC(addr.String()), n2.MAC("eth0"); got != want {
		t.Fatalf("client's entry after n2 took the address: %q, want n2's %q (gratuitous ARP)", got, want)
	}

	// A restarted agent knows the address from its directory; it takes it
	// off once the domain is seen stopped.
	s2b := newServiceIPs(dir2, log)
	reconcile(n2, s2b, map[string]bool{})
	if _, b := holders(); b {
		t.Fatal("n2 holds the address of a stopped domain after an agent restart")
	}
	reconcile(n2, s2b, on)
	if _, b := holders(); !b {
		t.Fatal("n2 does not hold the address of its running domain after an agent restart")
	}

	// A command whose record has no address any more takes it off.
	noIP := web
	noIP.ServiceIP = ""
	if err := n2.In(func() error {
		s2b.note(keys.NodeCommand{ID: "2-0-start-u1", Kind: keys.CmdInstanceStart, Instance: noIP})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, b := holders(); b {
		t.Fatal("n2 holds an address its instance's record no longer has")
	}
	if newServiceIPs(dir2, log).any() {
		t.Error("the removed address is still in the agent's directory")
	}
}
