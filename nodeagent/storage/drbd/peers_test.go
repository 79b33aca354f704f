package drbd

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPeerCalls(t *testing.T) {
	var calls []string
	a := &Admin{Version: V9, ConfDir: "/etc", Run: func(_ context.Context, _, name string, args ...string) ([]byte, error) {
		calls = append(calls, name+" "+strings.Join(args, " "))
		return nil, nil
	}}
	ctx := context.Background()
	_ = a.Disconnect(ctx, "r")
	_ = a.Connect(ctx, "r", false)
	_ = a.Connect(ctx, "r", true)
	_ = a.ForgetPeer(ctx, "r", 1)
	cf := "drbdadm --config-file /etc/drbd.conf "
	want := []string{cf + "disconnect r", cf + "connect r", cf + "connect --discard-my-data r", "drbdsetup forget-peer r 1"}
	if strings.Join(calls, ",") != strings.Join(want, ",") {
		t.Errorf("calls %q, want %q", calls, want)
	}
	a.Version = Version{8, 4, 11}
	if err := a.ForgetPeer(ctx, "r", 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("forget-peer on 8.4: %v, want ErrInvalid", err)
	}
}

func TestSplitBrainClearsAfterHandshake(t *testing.T) {
	s := NewState()
	apply := func(line string) {
		e, err := ParseEvent(line)
		if err != nil {
			t.Fatal(err)
		}
		s.Apply(e)
	}
	apply("exists resource name:r0 role:Secondary")
	apply("exists connection name:r0 peer-node-id:1 conn-name:node2 connection:Connected role:Primary")
	apply("exists connection name:r0 peer-node-id:2 conn-name:node3 connection:Connected role:Secondary")
	apply("call helper name:r0 peer-node-id:1 conn-name:node2 volume:0 helper:split-brain")
	apply("change connection name:r0 peer-node-id:1 conn-name:node2 connection:StandAlone")
	// Another peer's handshake does not clear it.
	apply("change peer-device name:r0 peer-node-id:2 conn-name:node3 volume:0 replication:Established peer-disk:UpToDate")
	if r, _ := s.Resource("r0"); !r.SplitBrain {
		t.Fatalf("split brain with node2 cleared by node3's handshake: %+v", r)
	}
	// The victim reconnected with --discard-my-data and resyncs.
	apply("change connection name:r0 peer-node-id:1 conn-name:node2 connection:Connected")
	apply("change peer-device name:r0 peer-node-id:1 conn-name:node2 volume:0 replication:SyncTarget peer-disk:UpToDate")
	if r, _ := s.Resource("r0"); r.SplitBrain {
		t.Errorf("split brain still reported after a successful handshake: %+v", r)
	}
}
