package main

// Debian's ganeti-instance-debootstrap, installed from Debian and unchanged,
// as the OS of an instance on `local up --hypervisor kvm`.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/realtest"
	"github.com/drover-project/drover/templates"
)

const debootstrapOS = "/usr/share/ganeti/os/debootstrap"

// debootstrapConfig is the operator's /etc/default/ganeti-instance-debootstrap
// of the test: the suite and mirror of this host, a kernel in the guest
// (for direct kernel boot), and PARTITION_STYLE=none because this host's
// kernel has no device-mapper, which the default msdos style needs (kpartx).
func debootstrapConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ganeti-instance-debootstrap")
	cfg := "# written by drover's TestLocalUpKVMGanetiOS\n" +
		"MIRROR=\"" + templates.DefaultMirror("bookworm") + "\"\n" +
		"SUITE=\"bookworm\"\n" +
		"EXTRA_PKGS=\"linux-image-amd64\"\n" +
		"PARTITION_STYLE=\"none\"\n" +
		"GENERATE_CACHE=\"yes\"\n" +
		"CLEAN_CACHE=\"30\"\n"
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLocalUpKVMGanetiOS: `instance add -o debootstrap+default` on a node
// with Debian's ganeti-instance-debootstrap runs its verify and create
// scripts (debootstrap of bookworm from the host's Debian mirror into the
// instance's file disk), and the guest boots the kernel the OS installed to
// a login prompt with the instance's name on its serial console. Unknown
// variants and parameters are refused before anything is made; rename runs
// the OS's rename script (the guest's /etc/hostname follows).
//
// The test's config file and debootstrap's cache are bind-mounted over
// /etc/default/ganeti-instance-debootstrap and
// /var/cache/ganeti-instance-debootstrap in a private mount namespace that
// local up and its agents run in: the host's files are not touched, the
// package's scripts run as installed. The first run debootstraps from the
// mirror (3-6 min here); later runs unpack debootstrap's cache (~1 min).
func TestLocalUpKVMGanetiOS(t *testing.T) {
	realtest.Short(t, "debootstrap and a TCG guest boot")
	needLibvirtd(t)
	hvtest.NeedBinaries(t, "qemu-system-x86_64", "unshare", "debootstrap", "debugfs", "losetup")
	if _, err := os.Stat(filepath.Join(debootstrapOS, "create")); err != nil {
		realtest.Need(t, "ganeti-instance-debootstrap not installed")
	}
	cache := filepath.Join(hvtest.CacheDir(t), "ganeti-instance-debootstrap")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	wrap := []string{"unshare", "-m", "--propagation", "private", "sh", "-ec",
		`mount --bind "$1" /etc/default/ganeti-instance-debootstrap; mount --bind "$2" /var/cache/ganeti-instance-debootstrap; shift 2; exec "$@"`,
		"sh", debootstrapConfig(t), cache}
	lc := startLocalWrapped(t, wrap, 1, 1, "127.0.21", "--hypervisor", "kvm")
	waitFor(t, 90*time.Second, "node1 online", func() bool { return lc.nodeStatus()["node1"] == "online" })

	// gnt-os list: the node reports the definition, its variant and parameter.
	out := lc.mustCLI("os", "list", "--no-headers")
	if !strings.Contains(out, "debootstrap+default") {
		t.Fatalf("os list lacks debootstrap+default:\n%s", out)
	}
	add := []string{"instance", "add", "-t", "file", "--disk", "2G", "-n", "node1", "-B", "vcpus=1,memory=512M"}
	if _, e, code := lc.cli(nil, append(add, "-o", "debootstrap+huge", "web1")...); code != exitNotFound || !strings.Contains(e, "variants: default") {
		t.Fatalf("unknown variant: exit %d %s", code, e)
	}
	if _, e, code := lc.cli(nil, append(add, "-o", "debootstrap+default", "-O", "size=4", "web1")...); code != exitUsage || !strings.Contains(e, "filesystem") {
		t.Fatalf("unknown parameter: exit %d %s", code, e)
	}
	if got := lc.instances(); len(got) != 0 {
		t.Fatalf("refused adds left instances: %v", got)
	}

	t0 := time.Now()
	lc.mustCLI(append(add, "-o", "debootstrap+default", "-O", "filesystem=ext4", "web1")...)
	t.Logf("instance add -o debootstrap+default (create script + define + start): %s", time.Since(t0).Round(time.Second))
	var con string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console of web1:\n%s", consoleTail(filepath.Join(lc.dir, "storage", "node1", "instances", "web1", "console.log"), 40))
		}
	})
	boot := waitFor(t, 600*time.Second, "web1 login: on the serial console", func() bool {
		con, _, _ = lc.cli(nil, "instance", "console", "web1")
		return strings.Contains(con, "web1 login:")
	})
	t.Logf("guest boot to \"web1 login:\": %s", boot.Round(time.Second))
	for _, l := range strings.Split(con, "\n") {
		if strings.Contains(l, "Debian GNU/Linux") || strings.Contains(l, "Linux version") {
			t.Logf("console: %s", strings.TrimSpace(l))
		}
	}
	info := lc.mustCLI("instance", "info", "web1")
	if !strings.Contains(info, "debootstrap+default") {
		t.Errorf("instance info does not show the OS:\n%s", info)
	}

	lc.mustCLI("instance", "shutdown", "--timeout", "20s", "web1")
	lc.mustCLI("instance", "rename", "web1", "web2")
	disk := filepath.Join(lc.dir, "storage", "node1", "instances", "web2", "disk0.img")
	host, err := exec.Command("debugfs", "-R", "cat /etc/hostname", disk).Output()
	if err != nil || strings.TrimSpace(string(host)) != "web2" {
		t.Errorf("after rename the guest's /etc/hostname is %q (%v), want web2", host, err)
	}
	lc.mustCLI("instance", "remove", "-f", "web2")
	if ents, _ := os.ReadDir(filepath.Join(lc.dir, "storage", "node1", "instances")); len(ents) != 0 {
		t.Errorf("files left on node1 after remove: %v", ents)
	}
}
