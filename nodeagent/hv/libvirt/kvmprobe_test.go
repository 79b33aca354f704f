package libvirt

import (
	"os"
	"testing"
)

func TestProbeKVM(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm")
	}
	t.Logf("ProbeKVM: %v", ProbeKVM())
}
