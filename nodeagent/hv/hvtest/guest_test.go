package hvtest_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/drover-project/drover/nodeagent/hv/hvtest"
)

// TestGuestArtifacts builds (or finds in the cache) the guest kernel and
// initramfs the real-hypervisor tests boot.
func TestGuestArtifacts(t *testing.T) {
	k := hvtest.Kernel(t)
	b, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	// A bzImage carries "HdrS" at offset 0x202.
	if len(b) < 0x206 || string(b[0x202:0x206]) != "HdrS" {
		t.Errorf("%s is not a bzImage", k)
	}
	i := hvtest.Initramfs(t)
	c, err := os.ReadFile(i)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"070701", "init\x00", "bin/busybox\x00", "dev/console\x00", "TRAILER!!!"} {
		if !bytes.Contains(c, []byte(want)) {
			t.Errorf("initramfs lacks %q", want)
		}
	}
	if len(c)%4 != 0 {
		t.Errorf("initramfs length %d not 4-aligned", len(c))
	}
	root := hvtest.ContainerRoot(t)
	if _, err := os.Stat(root + "/sbin/init"); err != nil {
		t.Error(err)
	}
}
