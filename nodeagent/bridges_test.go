package nodeagent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestHostBridges(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"br0/bridge", "eth0", "virbr0/bridge", "lo"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := sysClassNet
	sysClassNet = dir
	t.Cleanup(func() { sysClassNet = old })
	if b, ok := hostBridges("kvm"); !ok || !slices.Equal(b, []string{"br0", "virbr0"}) {
		t.Errorf("hostBridges(kvm) = %v, %v", b, ok)
	}
	if b, ok := hostBridges("fake"); ok || b != nil {
		t.Errorf("hostBridges(fake) = %v, %v; want unreported", b, ok)
	}
}
