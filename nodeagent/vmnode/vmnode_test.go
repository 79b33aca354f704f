package vmnode

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drover-project/drover/realtest"
)

func TestArchiveReadByCpio(t *testing.T) {
	cpio, err := exec.LookPath("busybox")
	if err != nil {
		realtest.Need(t, "busybox not installed")
	}
	a := newArchive()
	a.file("etc/drover/node.env", 0o644, []byte("NODE=node1\n"))
	a.symlink("bin/sh", "busybox")
	a.dir("var/lock")
	cmd := exec.Command(cpio, "cpio", "-t")
	cmd.Stdin = bytes.NewReader(a.bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v: %s", err, out)
	}
	got := strings.Fields(string(out))
	for _, want := range []string{"etc", "etc/drover", "etc/drover/node.env", "bin/sh", "var/lock"} {
		if !slices.Contains(got, want) {
			t.Errorf("archive lacks %s: %v", want, got)
		}
	}
}

func TestIsStatic(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := IsStatic(self); err != nil {
		t.Fatal(err)
	}
	if st, err := IsStatic("/bin/sh"); err == nil && st {
		t.Log("/bin/sh is static here")
	}
	if _, err := IsStatic(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("IsStatic of a missing file: no error")
	}
}

// The module order comes from the modules' own "depends=": with the lab
// kit (when present) virtio comes before virtio_pci and DRBD 9's
// transport after drbd.
func TestLoadOrderFromKit(t *testing.T) {
	kits, _ := filepath.Glob("/work/shared/lab/kit-*")
	if k := os.Getenv("DROVER_VM_KIT"); k != "" {
		kits, _ = filepath.Glob(filepath.Join(k, "kit-*"))
		if len(kits) == 0 {
			kits = []string{k}
		}
	}
	if len(kits) == 0 {
		realtest.Optional(t, "no lab kit (the node-guest end-to-end test covers Debian's kernel package)")
	}
	k, err := FindKit(kits[0])
	if err != nil {
		t.Fatal(err)
	}
	idx, err := indexModules(k.ModulesDir, k.DRBD9Dir)
	if err != nil {
		t.Fatal(err)
	}
	order, err := idx.loadOrder(append(baseModules, "drbd", "drbd_transport_tcp"))
	if err != nil {
		t.Fatal(err)
	}
	pos := func(m string) int { return slices.Index(order, m) }
	for _, pair := range [][2]string{{"virtio", "virtio_pci"}, {"virtio_ring", "virtio_blk"}, {"lru_cache", "drbd"}, {"drbd", "drbd_transport_tcp"}} {
		if pos(pair[0]) < 0 || pos(pair[1]) < 0 || pos(pair[0]) > pos(pair[1]) {
			t.Errorf("order %v: %s must come before %s", order, pair[0], pair[1])
		}
	}
	if !strings.Contains(idx["drbd"], "drbd9") {
		t.Errorf("drbd resolves to %s, want the kit's DRBD 9", idx["drbd"])
	}
	if _, err := idx.loadOrder([]string{"no_such_module"}); err == nil {
		t.Error("missing module: no error")
	}
}
