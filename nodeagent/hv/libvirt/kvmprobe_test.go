package libvirt

import (
	"os"
	"testing"

	"github.com/drover-project/drover/realtest"
)

func TestProbeKVM(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		realtest.Optional(t, "no /dev/kvm")
	}
	t.Logf("ProbeKVM: %v", ProbeKVM())
}
