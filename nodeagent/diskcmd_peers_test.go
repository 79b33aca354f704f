package nodeagent

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/storage/drbd"
	"github.com/drover-project/drover/nodeagent/storage/lvm"
)

// peerNode is one node's executor with fakes of drbdadm/drbdsetup and lvm
// (named fakes: the real ones run in the node guests of
// TestVMNodesReplaceSecondary9). The drbd fake records its calls and, like
// the kernel, reports through events2 what adjust changed (onAdjust).
type peerNode struct {
	x        *Executor
	mu       sync.Mutex
	calls    []string
	onAdjust []string
}

func newPeerNode(t *testing.T, node string, v drbd.Version, dump ...string) *peerNode {
	n := &peerNode{}
	mon := &drbd.Monitor{}
	feed := func(lines ...string) {
		if err := mon.Feed(strings.NewReader(strings.Join(lines, "\n") + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	feed(append(dump, "exists -")...)
	run := func(_ context.Context, _, name string, args ...string) ([]byte, error) {
		if name == "drbdadm" {
			args = args[2:] // --config-file X
		}
		n.mu.Lock()
		n.calls = append(n.calls, name+" "+strings.Join(args, " "))
		ev := n.onAdjust
		n.mu.Unlock()
		if name == "drbdadm" && args[0] == "adjust" {
			feed(ev...)
		}
		return nil, nil
	}
	lvmFake := func(_ context.Context, _ string, args ...string) ([]byte, error) {
		switch args[0] {
		case "vgs":
			return []byte("  1000.00 900.00\n"), nil
		case "lvs":
			return []byte("  repl1.disk0 64.00\n"), nil
		}
		return nil, nil
	}
	n.x = &Executor{Block: &BlockStorage{Node: node, VG: &lvm.VG{Name: "drover", Run: lvmFake},
		DRBD: &drbd.Admin{Version: v, ConfDir: t.TempDir(), Run: run}, Monitor: mon}}
	return n
}

func (n *peerNode) run(t *testing.T, kind string, nodes []keys.DRBDNode, p keys.DiskParams) error {
	t.Helper()
	inst := keys.InstanceRecord{Name: "repl1", UUID: "u1", DiskTemplate: "drbd", Disks: []keys.DiskSpec{{SizeMiB: 64,
		DRBD: &keys.DRBDDisk{Resource: "repl1-d0", Port: 11001, Secret: "c2VjcmV0LXNlY3JldA==", Nodes: nodes}}}}
	raw, _ := json.Marshal(p)
	_, err := n.x.runDisk(context.Background(), keys.NodeCommand{Kind: kind, Instance: inst, Params: raw}, func(string) {}, slog.New(slog.DiscardHandler))
	return err
}

func (n *peerNode) takeCalls() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := strings.Join(n.calls, "; ")
	n.calls = nil
	return s
}

var (
	peer1 = keys.DRBDNode{Node: "node1", IP: "198.18.7.101", Minor: 0, NodeID: 0}
	peer2 = keys.DRBDNode{Node: "node2", IP: "198.18.7.102", Minor: 0, NodeID: 1}
	peer3 = keys.DRBDNode{Node: "node3", IP: "198.18.7.103", Minor: 2, NodeID: 2}
)

// The primary's side of replacing node2 by node3 on DRBD 9: a third peer
// is added (three hosts, node-ids), and after the new one is in sync the
// old one is removed and its bitmap slot freed.
func TestDiskAdjustAddsAndRemovesPeer9(t *testing.T) {
	n := newPeerNode(t, "node1", drbd.V9,
		"exists resource name:repl1-d0 role:Primary",
		"exists connection name:repl1-d0 peer-node-id:1 conn-name:node2 connection:Connected role:Secondary")
	if err := n.run(t, keys.CmdDiskAdjust, []keys.DRBDNode{peer1, peer2, peer3}, keys.DiskParams{}); err != nil {
		t.Fatal(err)
	}
	if got := n.takeCalls(); got != "drbdadm adjust repl1-d0" {
		t.Errorf("add peer: calls %q", got)
	}
	conf, _ := os.ReadFile(n.x.Block.DRBD.ResourceFile("repl1-d0"))
	for _, want := range []string{"on node2 { node-id 1; device minor 0;", "on node3 { node-id 2; device minor 2;", "connection-mesh { hosts node1 node2 node3; }"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("resource file lacks %q:\n%s", want, conf)
		}
	}
	// The kernel deletes the connection to node2 on adjust (del-peer).
	n.onAdjust = []string{"destroy connection name:repl1-d0 peer-node-id:1 conn-name:node2"}
	if err := n.run(t, keys.CmdDiskAdjust, []keys.DRBDNode{peer1, peer3}, keys.DiskParams{Forget: []int{1}}); err != nil {
		t.Fatal(err)
	}
	if got := n.takeCalls(); got != "drbdadm adjust repl1-d0; drbdsetup forget-peer repl1-d0 1" {
		t.Errorf("remove peer: calls %q", got)
	}
	conf, _ = os.ReadFile(n.x.Block.DRBD.ResourceFile("repl1-d0"))
	if strings.Contains(string(conf), "node2") || !strings.Contains(string(conf), "hosts node1 node3;") {
		t.Errorf("resource file after the removal:\n%s", conf)
	}
	// A re-run (the step ran again after a leader change) does the same.
	if err := n.run(t, keys.CmdDiskAdjust, []keys.DRBDNode{peer1, peer3}, keys.DiskParams{Forget: []int{1}}); err != nil {
		t.Fatal(err)
	}
	if got := n.takeCalls(); got != "drbdadm adjust repl1-d0; drbdsetup forget-peer repl1-d0 1" {
		t.Errorf("re-run: calls %q", got)
	}
}

func TestDiskAdjustRefuses(t *testing.T) {
	n := newPeerNode(t, "node1", drbd.V9, "exists resource name:repl1-d0 role:Primary")
	err := n.run(t, keys.CmdDiskAdjust, []keys.DRBDNode{peer1, peer3}, keys.DiskParams{Forget: []int{2}})
	if api.AsError(err).Code != api.CodeWrongInput {
		t.Errorf("forgetting a current peer: %v, want wrong_input", err)
	}
	n84 := newPeerNode(t, "node1", drbd.Version{Major: 8, Minor: 4, Patch: 11})
	err = n84.run(t, keys.CmdDiskAdjust, []keys.DRBDNode{peer1, peer3}, keys.DiskParams{Forget: []int{1}})
	if api.AsError(err).Code != api.CodeWrongInput {
		t.Errorf("forget on 8.4: %v, want wrong_input", err)
	}
	err = n84.run(t, keys.CmdDiskAdjust, []keys.DRBDNode{peer1, peer2, peer3}, keys.DiskParams{})
	if api.AsError(err).Code != api.CodeWrongInput {
		t.Errorf("three peers on 8.4: %v, want wrong_input", err)
	}
	if got := n.takeCalls() + n84.takeCalls(); got != "" {
		t.Errorf("refused commands ran %q", got)
	}
}

// DRBD 8.4: the old secondary disconnects (its disk stays), the primary
// disconnects and connects to the new peer.
func TestDiskReplace84(t *testing.T) {
	v := drbd.Version{Major: 8, Minor: 4, Patch: 11}
	conn := "exists connection name:repl1-d0 peer-node-id:0 conn-name:peer connection:Connected role:Primary"
	old := newPeerNode(t, "node2", v, "exists resource name:repl1-d0 role:Secondary", conn)
	if err := old.run(t, keys.CmdDiskDisconnect, []keys.DRBDNode{peer1, peer2}, keys.DiskParams{}); err != nil {
		t.Fatal(err)
	}
	if got := old.takeCalls(); got != "drbdadm disconnect repl1-d0" {
		t.Errorf("old secondary: calls %q", got)
	}
	old2 := newPeerNode(t, "node2", v, "exists resource name:repl1-d0 role:Secondary",
		"exists connection name:repl1-d0 peer-node-id:0 conn-name:peer connection:StandAlone")
	if err := old2.run(t, keys.CmdDiskDisconnect, []keys.DRBDNode{peer1, peer2}, keys.DiskParams{}); err != nil || old2.takeCalls() != "" {
		t.Errorf("disconnect of a StandAlone resource: %v (nothing to do)", err)
	}
	prim := newPeerNode(t, "node1", v, "exists resource name:repl1-d0 role:Primary", conn)
	if err := prim.run(t, keys.CmdDiskAdjust, []keys.DRBDNode{peer1, peer3}, keys.DiskParams{Reconnect: true}); err != nil {
		t.Fatal(err)
	}
	if got := prim.takeCalls(); got != "drbdadm disconnect repl1-d0; drbdadm adjust repl1-d0" {
		t.Errorf("primary: calls %q", got)
	}
	conf, _ := os.ReadFile(prim.x.Block.DRBD.ResourceFile("repl1-d0"))
	if !strings.Contains(string(conf), "on node3 { device minor 2;") || strings.Contains(string(conf), "node2") {
		t.Errorf("8.4 resource file:\n%s", conf)
	}
}

func TestDiskDiscardMyData(t *testing.T) {
	sb := "exists connection name:repl1-d0 peer-node-id:0 conn-name:node1 connection:StandAlone"
	p := newPeerNode(t, "node2", drbd.V9, "exists resource name:repl1-d0 role:Primary", sb)
	if err := p.run(t, keys.CmdDiskDiscard, []keys.DRBDNode{peer1, peer2}, keys.DiskParams{}); api.AsError(err).Code != api.CodeWrongState || p.takeCalls() != "" {
		t.Errorf("discard on a primary: %v, want wrong_state and no call", err)
	}
	s := newPeerNode(t, "node2", drbd.V9, "exists resource name:repl1-d0 role:Secondary", sb)
	if err := s.run(t, keys.CmdDiskDiscard, []keys.DRBDNode{peer1, peer2}, keys.DiskParams{}); err != nil {
		t.Fatal(err)
	}
	if got := s.takeCalls(); got != "drbdadm connect --discard-my-data repl1-d0" {
		t.Errorf("victim: calls %q", got)
	}
	gone := newPeerNode(t, "node2", drbd.V9)
	if err := gone.run(t, keys.CmdDiskDiscard, []keys.DRBDNode{peer1, peer2}, keys.DiskParams{}); api.AsError(err).Code != api.CodeWrongState {
		t.Errorf("discard of a resource that is not up: %v, want wrong_state", err)
	}
}

// A promotion after a fence (peer_fenced): a connection that still counts
// the dead peer as primary is dropped without a handshake, the disk
// promoted, and the resource connected again afterwards (outside the
// command); a peer already seen gone, or no peer_fenced, is promoted as
// always. DRBD 8.4 (the fake above).
func TestDiskPrimaryDropsFencedPeer(t *testing.T) {
	v84 := drbd.Version{Major: 8, Minor: 4, Patch: 11}
	n := newPeerNode(t, "node2", v84,
		"exists resource name:repl1-d0 role:Secondary",
		"exists connection name:repl1-d0 conn-name:peer connection:Connected role:Primary")
	if err := n.run(t, keys.CmdDiskPrimary, []keys.DRBDNode{peer1, peer2}, keys.DiskParams{PeerFenced: true}); err != nil {
		t.Fatal(err)
	}
	want := "drbdadm disconnect --force repl1-d0; drbdadm primary repl1-d0; drbdadm connect repl1-d0"
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		n.mu.Lock()
		got = strings.Join(n.calls, "; ")
		n.mu.Unlock()
		if got == want {
			break
		}
	}
	if got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	for _, c := range []struct {
		state string
		p     keys.DiskParams
	}{
		{"exists connection name:repl1-d0 conn-name:peer connection:Connecting role:Unknown", keys.DiskParams{PeerFenced: true}},
		{"exists connection name:repl1-d0 conn-name:peer connection:Connected role:Primary", keys.DiskParams{}},
	} {
		m := newPeerNode(t, "node2", v84, "exists resource name:repl1-d0 role:Secondary", c.state)
		if err := m.run(t, keys.CmdDiskPrimary, []keys.DRBDNode{peer1, peer2}, c.p); err != nil {
			t.Fatal(err)
		}
		if got := m.takeCalls(); got != "drbdadm primary repl1-d0" {
			t.Errorf("%s %+v: calls %q", c.state, c.p, got)
		}
	}
}

// The early drop of a dead primary (disk.disconnect with peer_fenced, sent
// while the node is being fenced): a connection that still counts the peer
// as primary is dropped without a handshake and connected again within the
// command, and nothing is promoted; a peer already seen gone (Connecting,
// role Unknown) or a resource already primary is left alone.
func TestDiskDisconnectDropsFencedPeerEarly(t *testing.T) {
	v84 := drbd.Version{Major: 8, Minor: 4, Patch: 11}
	n := newPeerNode(t, "node2", v84,
		"exists resource name:repl1-d0 role:Secondary",
		"exists connection name:repl1-d0 conn-name:peer connection:Connected role:Primary")
	if err := n.run(t, keys.CmdDiskDisconnect, []keys.DRBDNode{peer1, peer2}, keys.DiskParams{PeerFenced: true}); err != nil {
		t.Fatal(err)
	}
	if got := n.takeCalls(); got != "drbdadm disconnect --force repl1-d0; drbdadm connect repl1-d0" {
		t.Errorf("calls %q, want the forced disconnect and the connect, no promotion", got)
	}
	// The promotion after an early drop whose connect failed (StandAlone):
	// promoted, and connected again afterwards.
	sa := newPeerNode(t, "node2", v84, "exists resource name:repl1-d0 role:Secondary",
		"exists connection name:repl1-d0 conn-name:peer connection:StandAlone role:Unknown")
	if err := sa.run(t, keys.CmdDiskPrimary, []keys.DRBDNode{peer1, peer2}, keys.DiskParams{PeerFenced: true}); err != nil {
		t.Fatal(err)
	}
	want := "drbdadm primary repl1-d0; drbdadm connect repl1-d0"
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && got != want; time.Sleep(10 * time.Millisecond) {
		sa.mu.Lock()
		got = strings.Join(sa.calls, "; ")
		sa.mu.Unlock()
	}
	if got != want {
		t.Errorf("StandAlone promotion: calls %q, want %q", got, want)
	}
	for _, state := range [][]string{
		{"exists resource name:repl1-d0 role:Secondary", "exists connection name:repl1-d0 conn-name:peer connection:Connecting role:Unknown"},
		{"exists resource name:repl1-d0 role:Primary", "exists connection name:repl1-d0 conn-name:peer connection:Connecting role:Unknown"},
	} {
		m := newPeerNode(t, "node2", v84, state...)
		if err := m.run(t, keys.CmdDiskDisconnect, []keys.DRBDNode{peer1, peer2}, keys.DiskParams{PeerFenced: true}); err != nil {
			t.Fatal(err)
		}
		if got := m.takeCalls(); got != "" {
			t.Errorf("%v: calls %q, want none", state, got)
		}
	}
}
