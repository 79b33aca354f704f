package master

import (
	"fmt"
	"testing"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

func TestPlanDRBD(t *testing.T) {
	peers := []DRBDPeer{{"n1", "10.0.0.1"}, {"n2", "10.0.0.2"}}
	a, err := PlanDRBD(nil, "a", peers, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 2 || a[0].Port != DRBDPortFirst || a[1].Port != DRBDPortFirst+1 || a[0].Nodes[0].Minor != 0 || a[1].Nodes[1].Minor != 1 ||
		a[0].Nodes[1].NodeID != 1 || a[0].Resource != "a-d0" || len(a[0].Secret) != 32 || a[0].Secret == a[1].Secret {
		t.Fatalf("plan %+v", a)
	}
	recA := keys.InstanceRecord{Name: "a", DiskTemplate: "drbd", Disks: []keys.DiskSpec{{SizeMiB: 1, DRBD: &a[0]}, {SizeMiB: 1, DRBD: &a[1]}}}
	// n2 and n3: n2's minors 0 and 1 are taken, n3 starts at 0; ports go on.
	b, err := PlanDRBD([]keys.InstanceRecord{recA}, "b", []DRBDPeer{{"n3", "10.0.0.3"}, {"n2", "10.0.0.2"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b[0].Port != DRBDPortFirst+2 || b[0].Nodes[0].Minor != 0 || b[0].Nodes[1].Minor != 2 {
		t.Errorf("plan b %+v", b[0])
	}
	// Removing a (its record gone) frees its port and minors.
	c, _ := PlanDRBD(nil, "c", peers, 1)
	if c[0].Port != DRBDPortFirst || c[0].Nodes[1].Minor != 0 {
		t.Errorf("after removal %+v", c[0])
	}
	// Property: across many instances no port repeats and no node's minor repeats.
	var recs []keys.InstanceRecord
	nodes := []DRBDPeer{{"n1", "i1"}, {"n2", "i2"}, {"n3", "i3"}}
	for i := range 60 {
		p := []DRBDPeer{nodes[i%3], nodes[(i+1+i/3)%3]}
		if p[0].Node == p[1].Node {
			p[1] = nodes[(i+2)%3]
		}
		d, err := PlanDRBD(recs, fmt.Sprintf("x%d", i), p, 1+i%2)
		if err != nil {
			t.Fatal(err)
		}
		r := keys.InstanceRecord{Name: "x"}
		for j := range d {
			r.Disks = append(r.Disks, keys.DiskSpec{DRBD: &d[j]})
		}
		recs = append(recs, r)
	}
	ports, minors := map[int]bool{}, map[string]bool{}
	for _, r := range recs {
		for _, d := range r.Disks {
			if ports[d.DRBD.Port] {
				t.Fatalf("port %d twice", d.DRBD.Port)
			}
			ports[d.DRBD.Port] = true
			if d.DRBD.Nodes[0].Node == d.DRBD.Nodes[1].Node {
				t.Fatalf("peers on one node: %+v", d.DRBD)
			}
			for _, n := range d.DRBD.Nodes {
				k := fmt.Sprintf("%s/%d", n.Node, n.Minor)
				if minors[k] {
					t.Fatalf("minor %d twice on %s", n.Minor, n.Node)
				}
				minors[k] = true
			}
		}
	}
}

func TestPlanDRBDErrors(t *testing.T) {
	for what, c := range map[string]struct {
		peers []DRBDPeer
		code  api.Code
	}{
		"one node":   {[]DRBDPeer{{"n1", "i"}}, api.CodeWrongInput},
		"same node":  {[]DRBDPeer{{"n1", "i"}, {"n1", "i"}}, api.CodeWrongInput},
		"no address": {[]DRBDPeer{{"n1", "i"}, {"n2", ""}}, api.CodeWrongState},
	} {
		if _, err := PlanDRBD(nil, "a", c.peers, 1); api.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %s", what, err, c.code)
		}
	}
	// Ports run out.
	var recs []keys.InstanceRecord
	for p := DRBDPortFirst; p <= DRBDPortLast; p++ {
		recs = append(recs, keys.InstanceRecord{Disks: []keys.DiskSpec{{DRBD: &keys.DRBDDisk{Port: p}}}})
	}
	if _, err := PlanDRBD(recs, "a", []DRBDPeer{{"n1", "i"}, {"n2", "j"}}, 1); api.CodeOf(err) != api.CodeInsufficientResources {
		t.Errorf("ports exhausted: %v", err)
	}
}
