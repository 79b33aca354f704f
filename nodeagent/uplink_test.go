package nodeagent

import (
	"os"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/floatip/netnslab"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
)

// TestUplinkObserve: lost after api.UplinkLostAfter silent rounds in a row,
// up again at the first answer; new targets start up; no targets, no
// status. changed is reported exactly when the state changes.
func TestUplinkObserve(t *testing.T) {
	var u uplink
	now := time.Unix(1000, 0)
	tg := []string{"10.0.0.1", "10.0.0.2"}
	step := func(targets []string, reach map[string]bool, wantChanged, wantOK bool) {
		t.Helper()
		now = now.Add(api.UplinkProbeInterval)
		if got := u.observe(targets, reach, now); got != wantChanged {
			t.Fatalf("at %v: changed %v, want %v", now, got, wantChanged)
		}
		st := u.status()
		if len(targets) == 0 {
			if st != nil {
				t.Fatalf("no targets, status %+v", st)
			}
			return
		}
		if st == nil || st.OK != wantOK {
			t.Fatalf("at %v: status %+v, want ok=%v", now, st, wantOK)
		}
	}
	step(nil, nil, false, false)
	step(tg, nil, true, true) // new targets: up until proven lost
	for i := 1; i < api.UplinkLostAfter-1; i++ {
		step(tg, nil, false, true)
	}
	step(tg, nil, true, false)
	lostAt := u.status().Since
	step(tg, nil, false, false)
	if u.status().Since != lostAt {
		t.Fatalf("since moved while the state stayed")
	}
	step(tg, map[string]bool{"10.0.0.2": true}, true, true)
	if st := u.status(); len(st.Reachable) != 1 || st.Reachable[0] != "10.0.0.2" {
		t.Fatalf("reachable %v", st.Reachable)
	}
	step(tg, nil, false, true) // one silent round after an answer: still up
	step([]string{"10.0.0.3"}, nil, true, true)
	step(nil, nil, true, false)
}

// TestUplinkPingNetns: real ICMP in a network lab (namespaces, a bridge,
// veth ports): a node pings its gateway; when the gateway's port on the LAN
// goes down the node's uplink is lost after api.UplinkLostAfter rounds, and
// it is up again at the first round after the port comes back. The
// pinger's socket is made in the node's namespace.
func TestUplinkPingNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		hvtest.SkipOrFail(t, "network namespaces need root")
	}
	hvtest.NeedBinaries(t, "ip")
	lab := netnslab.New(t, "upl")
	node := lab.AddHost("node", "198.18.77.1")
	lab.AddHost("gw", "198.18.77.254")
	targets := []string{"198.18.77.254", "198.18.77.253"} // the second never answers
	p := newPinger()
	defer p.close()
	var u uplink
	round := func() {
		t.Helper()
		var got map[string]bool
		var err error
		if rerr := node.In(func() error { got, err = p.round(targets, time.Second); return nil }); rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		u.observe(targets, got, time.Now())
	}
	waitUp := func(what string) {
		t.Helper()
		for i := 0; ; i++ {
			round()
			if st := u.status(); st.OK && len(st.Reachable) == 1 && st.Reachable[0] == targets[0] {
				return
			}
			if i == 10 {
				t.Fatalf("%s: uplink %+v after %d rounds", what, u.status(), i+1)
			}
		}
	}
	waitUp("gateway on the LAN")
	if err := lab.SetLink("gw", false); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= api.UplinkLostAfter; i++ {
		round()
		if st := u.status(); len(st.Reachable) != 0 || st.OK != (i < api.UplinkLostAfter) {
			t.Fatalf("round %d after the cut: %+v", i, st)
		}
	}
	if err := lab.SetLink("gw", true); err != nil {
		t.Fatal(err)
	}
	waitUp("gateway back")
}
