package master

import (
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

func TestInstanceStatusDerivation(t *testing.T) {
	dom := func(s string) *keys.DomainStatus { return &keys.DomainStatus{State: s} }
	for _, tc := range []struct {
		adminUp bool
		node    string
		d       *keys.DomainStatus
		want    string
	}{
		{true, api.NodeOnline, dom(keys.DomainRunning), api.InstRunning},
		{true, api.NodeOnline, dom(keys.DomainPaused), api.InstRunning},
		{true, api.NodeOnline, dom(keys.DomainStopped), api.InstErrorDown},
		{true, api.NodeOnline, dom(keys.DomainCrashed), api.InstErrorDown},
		{true, api.NodeOnline, dom(keys.DomainMissing), api.InstErrorDown},
		{true, api.NodeOnline, nil, api.InstErrorDown},
		{false, api.NodeOnline, dom(keys.DomainRunning), api.InstErrorUp},
		{false, api.NodeOnline, dom(keys.DomainStopped), api.InstAdminDown},
		{false, api.NodeOnline, nil, api.InstAdminDown},
		{true, api.NodeUnreachable, dom(keys.DomainRunning), api.InstErrorNodeDown},
		{false, api.NodeUnreachable, nil, api.InstErrorNodeDown},
		{true, api.NodeOffline, dom(keys.DomainRunning), api.InstErrorNodeOffline},
		{false, api.NodeOffline, nil, api.InstErrorNodeOffline},
	} {
		if got := instanceStatus(tc.adminUp, tc.node, tc.d); got != tc.want {
			t.Errorf("status(up=%v, node=%s, dom=%+v) = %s, want %s", tc.adminUp, tc.node, tc.d, got, tc.want)
		}
	}
}

func TestNodeStatusOf(t *testing.T) {
	if s := nodeStatusOf(nil, true); s != api.NodeUnreachable {
		t.Errorf("no record: %s", s)
	}
	if s := nodeStatusOf(&keys.NodeRecord{Offline: true}, true); s != api.NodeOffline {
		t.Errorf("offline: %s", s)
	}
	if s := nodeStatusOf(&keys.NodeRecord{}, true); s != api.NodeOnline {
		t.Errorf("alive: %s", s)
	}
	if s := nodeStatusOf(&keys.NodeRecord{}, false); s != api.NodeUnreachable {
		t.Errorf("no lease: %s", s)
	}
}

func TestMACString(t *testing.T) {
	for seq, want := range map[uint64]string{1: "aa:00:00:00:00:01", 0x0102ff: "aa:00:00:01:02:ff", maxMACSeq: "aa:00:00:ff:ff:ff"} {
		if got := macString("aa:00:00", seq); got != want {
			t.Errorf("macString(%#x) = %s, want %s", seq, got, want)
		}
	}
}

func TestRestartBackoff(t *testing.T) {
	prev := time.Duration(0)
	for n := 0; n <= 40; n++ {
		b := backoff(n)
		if b < prev || b > restartBackoffMax || b <= 0 {
			t.Fatalf("backoff(%d) = %v after %v", n, b, prev)
		}
		prev = b
	}
	if backoff(0) != restartBackoff || backoff(40) != restartBackoffMax {
		t.Fatalf("backoff ends: %v %v", backoff(0), backoff(40))
	}
}

func TestInstanceViewHidesStaleObservation(t *testing.T) {
	r := keys.InstanceRecord{Name: "a", AdminUp: true, Disks: []keys.DiskSpec{{SizeMiB: 10}}, NICs: []keys.NICSpec{{MAC: "aa:00:00:00:00:01", Link: "br0"}}}
	d := &keys.DomainStatus{State: keys.DomainRunning, ObservedAt: time.Now()}
	v := instanceView(r, api.NodeOnline, d)
	if v.Status != api.InstRunning || v.OperState != "running" || v.ObservedAt == nil || v.AdminState != "up" ||
		len(v.Disks) != 1 || v.NICs[0].MAC != "aa:00:00:00:00:01" {
		t.Fatalf("view %+v", v)
	}
	// A domain key left by an agent whose node is unreachable is not shown.
	v = instanceView(r, api.NodeUnreachable, d)
	if v.Status != api.InstErrorNodeDown || v.OperState != "" || v.ObservedAt != nil {
		t.Fatalf("view %+v", v)
	}
}
