package nodeagent

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-project/drover/nodeagent/storage/lvm"
)

// TestStorageStatusSlowVGS: one or two failed reads of the volume group in
// a row (a vgs killed by its 5 s limit on a loaded node guest) publish the
// last figures read, not an error the master would refuse instance add
// for; the third in a row is reported; a good read clears the count.
func TestStorageStatusSlowVGS(t *testing.T) {
	fail := false
	b := &BlockStorage{Node: "node1", VG: &lvm.VG{Name: "drover", Run: func(_ context.Context, _ string, _ ...string) ([]byte, error) {
		if fail {
			return nil, errors.New("lvm vgs: signal: killed")
		}
		return []byte("  1020.00   900.00\n"), nil
	}}}
	ctx := context.Background()
	if st := b.Status(ctx); st.Error != "" || st.VGFreeMiB != 900 {
		t.Fatalf("good read: %+v", st)
	}
	fail = true
	for i := 1; i <= 2; i++ {
		if st := b.Status(ctx); st.Error != "" || st.VGSizeMiB != 1020 || st.VGFreeMiB != 900 {
			t.Fatalf("failed read %d: %+v (want the last figures, no error)", i, st)
		}
	}
	if st := b.Status(ctx); st.Error == "" {
		t.Fatalf("third failed read in a row not reported: %+v", st)
	}
	fail = false
	if st := b.Status(ctx); st.Error != "" || st.VGFreeMiB != 900 {
		t.Fatalf("good read again: %+v", st)
	}
	fail = true
	if st := b.Status(ctx); st.Error != "" {
		t.Fatalf("one failed read after a good one: %+v", st)
	}
	// No good read yet: reported at once.
	nb := &BlockStorage{Node: "node1", VG: b.VG}
	if st := nb.Status(ctx); st.Error == "" {
		t.Fatalf("failed first read not reported: %+v", st)
	}
}

// TestStorageStatusHungVGS: a vgs that never returns (it waits in the kernel
// on a suspended device, where SIGKILL cannot end it) does not hold the
// status up: each status returns when its context ends, with the last
// figures while they may stand and then an error; no second vgs is started
// while the first hangs; once it returns, the figures are read again.
func TestStorageStatusHungVGS(t *testing.T) {
	var calls atomic.Int32
	hang := make(chan struct{})
	hanging := atomic.Bool{}
	b := &BlockStorage{Node: "node1", VG: &lvm.VG{Name: "drover", Run: func(_ context.Context, _ string, _ ...string) ([]byte, error) {
		calls.Add(1)
		if hanging.Load() {
			<-hang // ignores its context, as a process in D state does
		}
		return []byte("  1020.00   900.00\n"), nil
	}}}
	if st := b.Status(context.Background()); st.Error != "" || st.VGFreeMiB != 900 {
		t.Fatalf("good read: %+v", st)
	}
	hanging.Store(true)
	for i := 1; i <= 4; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		st := b.Status(ctx)
		cancel()
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("status %d waited %s for a hung vgs", i, took)
		}
		if i <= 2 && (st.Error != "" || st.VGFreeMiB != 900) {
			t.Fatalf("status %d with a hung vgs: %+v (want the last figures)", i, st)
		}
		if i > 2 && !strings.Contains(st.Error, "has not returned") {
			t.Fatalf("status %d with a hung vgs: error %q, want \"has not returned\"", i, st.Error)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d vgs started, want 2 (the good one, then one that hangs and no other)", n)
	}
	hanging.Store(false)
	close(hang)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st := b.Status(ctx)
		cancel()
		if st.Error == "" && st.VGFreeMiB == 900 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the hung vgs returned: %+v", st)
		}
	}
}
