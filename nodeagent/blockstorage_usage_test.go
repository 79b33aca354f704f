package nodeagent

import (
	"context"
	"errors"
	"testing"

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
