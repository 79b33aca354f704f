package floatip

// Tests in network namespaces (root): the holder device goes with its
// process, even killed with SIGKILL; gratuitous ARP moves a neighbour's
// entry to the new holder without the neighbour asking.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/floatip/netnslab"
	"github.com/drover-project/drover/realtest"
)

// envHold makes the test binary a holder process (TestMain): it holds the
// address "ADDR/PREFIX,DEV" of the variable, says "held" and waits.
const envHold = "FLOATIP_TEST_HOLD"

func TestMain(m *testing.M) {
	if v := os.Getenv(envHold); v != "" {
		addr, dev, _ := strings.Cut(v, ",")
		h, err := Hold(context.Background(), netip.MustParsePrefix(addr), dev, nil)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		time.Sleep(time.Hour)
		h.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func needLab(t *testing.T) {
	realtest.NeedRoot(t, "network namespaces")
	realtest.NeedBinaries(t, "ip")
}

// waitTrue polls cond every 20 ms for up to limit.
func waitTrue(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

func TestHolderGoesWithItsProcess(t *testing.T) {
	needLab(t)
	lab := netnslab.New(t, "fh")
	a := lab.AddHost("a", "198.19.79.1")
	vip := netip.MustParseAddr("198.19.79.50")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", a.NS, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envHold+"="+vip.String()+"/24,eth0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "held\n" {
		t.Fatalf("holder process: %q", line)
	}
	if ok, err := a.Holds(vip); err != nil || !ok {
		t.Fatalf("host a holds %s: %v %v", vip, ok, err)
	}
	// A second holder on the same host is refused while the first lives.
	err = a.In(func() error {
		h, err := Hold(context.Background(), netip.PrefixFrom(vip, 24), "eth0", nil)
		if err == nil {
			h.Release()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "held by another process") {
		t.Errorf("second holder: err %v, want refused as held by another process", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The kernel removed the device and the address with the process.
	gone := waitTrue(5*time.Second, func() bool {
		ok, err := a.Holds(vip)
		return err == nil && !ok
	})
	if !gone {
		t.Fatalf("%s still on host a after kill -9 of its holder", vip)
	}
	err = a.In(func() error { _, err := net.InterfaceByName(HolderDevice); return err })
	if err == nil {
		t.Errorf("device %s still exists after kill -9 of its holder", HolderDevice)
	}
}

func TestAnnounceMovesTheNeighbourEntry(t *testing.T) {
	needLab(t)
	lab := netnslab.New(t, "fa")
	a, b := lab.AddHost("a", "198.19.79.1"), lab.AddHost("b", "198.19.79.2")
	cl := lab.AddHost("cl", "198.19.79.100")
	p := netip.MustParsePrefix("198.19.79.60/24")
	ctx := context.Background()
	if err := a.In(func() error { return AddAddr(ctx, "eth0", p) }); err != nil {
		t.Fatal(err)
	}
	// The client talks to a: its neighbour entry is a's MAC (the port is
	// closed: a refusal is an answer).
	err := cl.Dial(net.JoinHostPort(p.Addr().String(), "9"), 2*time.Second, func(net.Conn) error { return nil })
	if err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("client to %s: %v", p.Addr(), err)
	}
	if got, want := cl.NeighMAC(p.Addr().String()), a.MAC("eth0"); got != want {
		t.Fatalf("client's entry for %s: %q, want a's %q", p.Addr(), got, want)
	}
	// a gives it up, b takes it and announces it: the client's entry
	// points at b without the client sending anything.
	if err := a.In(func() error { _, err := DelAddr(ctx, "eth0", p.Addr()); return err }); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Holds(p.Addr()); ok {
		t.Fatalf("a still holds %s after DelAddr", p.Addr())
	}
	var done <-chan struct{}
	err = b.In(func() error {
		if err := AddAddr(ctx, "eth0", p); err != nil {
			return err
		}
		var err error
		done, err = Announce(ctx, "eth0", p.Addr(), Announcements, AnnounceInterval)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	<-done
	if d := time.Since(start); d < AnnounceInterval {
		t.Errorf("%d rounds of announcements took %s, want about %s", Announcements, d, time.Duration(Announcements-1)*AnnounceInterval)
	}
	if !waitTrue(3*time.Second, func() bool { return cl.NeighMAC(p.Addr().String()) == b.MAC("eth0") }) {
		t.Fatalf("client's entry for %s: %q, want b's %q after b's gratuitous ARP", p.Addr(), cl.NeighMAC(p.Addr().String()), b.MAC("eth0"))
	}
}
