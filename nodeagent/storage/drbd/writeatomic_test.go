package drbd

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Concurrent writers of one file (two commands after a reboot both write
// the missing drbd.conf) all succeed and leave one whole file, no
// temporary behind.
func TestWriteAtomicConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drbd.conf")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() { errs <- writeAtomic(path, []byte("global { usage-count no; }\n"), 0o644) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	st, _ := os.Stat(path)
	if err != nil || string(b) != "global { usage-count no; }\n" || st.Mode().Perm() != 0o644 {
		t.Fatalf("file %q %v mode %v", b, err, st.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(left) != 0 {
		t.Fatalf("temporaries left: %v", left)
	}
}
