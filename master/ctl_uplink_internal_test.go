package master

import (
	"testing"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// TestFailbackAvoidsLostUplink: failback (and the move at
// migration_threshold) never picks a node whose uplink is lost: the uplink
// controller would move the instance off it again, back and forth.
func TestFailbackAvoidsLostUplink(t *testing.T) {
	up := &api.UplinkStatus{Targets: []string{"192.0.2.1"}, OK: true}
	lost := &api.UplinkStatus{Targets: []string{"192.0.2.1"}, OK: false}
	v := &clusterView{
		nodes: map[string]*keys.NodeRecord{"n1": {Name: "n1"}, "n2": {Name: "n2"}, "n3": {Name: "n3"}, "n4": {Name: "n4", Drained: true}},
		alive: map[string]bool{"n1": true, "n2": true, "n3": true, "n4": true},
		status: map[string]*keys.NodeStatus{"n1": {Uplink: up}, "n2": {Uplink: lost}, "n3": {},
			"n4": {Uplink: up}},
	}
	ok := failbackNodeOK(v)
	for n, want := range map[string]bool{"n1": true, "n2": false, "n3": true, "n4": false, "n5": false} {
		if got := ok(n); got != want {
			t.Errorf("failbackNodeOK(%s) = %v, want %v", n, got, want)
		}
	}
}
