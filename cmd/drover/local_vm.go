package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/nodeagent/vmnode"
)

// vmFlags are local up's flags for node guests (see docs/drbd.md).
func vmFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "vm-nodes", Usage: "run this many nodes as QEMU/TCG guests with real DRBD and LVM (root; replaces --nodes)"},
		&cli.StringFlag{Name: "drbd", Value: "8.4", Usage: "DRBD of the node guests: 8.4 (Debian's kernel) or 9 (needs the lab kit)"},
		&cli.StringFlag{Name: "vm-net", Usage: "the guests' /24 as three octets (default 198.18.X, X from --dir)"},
		&cli.IntFlag{Name: "vm-memory", Value: 384, Usage: "MiB of memory per node guest"},
		&cli.IntFlag{Name: "vm-disk", Value: 2048, Usage: "MiB of the disk that is each guest's LVM volume group (sparse)"},
		&cli.StringFlag{Name: "vm-kit", EnvVars: []string{"DROVER_VM_KIT"}, Usage: "a lab kit directory (kit-KVER with vmlinuz, modules, drbd9/); default: Debian's linux-image-6.1.0-N-amd64 via apt-get download"},
		&cli.BoolFlag{Name: "vm-disk-faults", Usage: "put each guest's disk under a device-mapper device, so that local fault --slow-disk/--fail-disk/--heal-disk work (docs/ha.md)"},
		&cli.StringFlag{Name: "agent-binary", EnvVars: []string{"DROVER_AGENT_BINARY"}, Usage: "static drover binary for the guests (default: this one when static, else built with CGO_ENABLED=0)"},
	}
}

// vmCluster is the node guests of one local up.
type vmCluster struct {
	dir     localDir
	n       int
	drbd    string
	mem     int
	diskMiB int
	net     vmNet
	kit     string
	agent   string
	log     *slog.Logger
	// diskFaults: the guests' VG on a device-mapper device (vmnode/disk.go).
	diskFaults bool
}

// vmClusterFrom reads the flags; nil when --vm-nodes is 0.
func vmClusterFrom(c *cli.Context, d localDir) (*vmCluster, error) {
	n := c.Int("vm-nodes")
	if n == 0 {
		return nil, nil
	}
	if n < 0 || n > 100 {
		return nil, usagef("--vm-nodes must be 0..100")
	}
	if c.IsSet("nodes") {
		return nil, usagef("--vm-nodes and --nodes exclude each other (node guests replace node processes)")
	}
	if c.String("hypervisor") != "fake" {
		return nil, usagef("--vm-nodes runs the workload driver in the guests; --hypervisor does not apply")
	}
	if d := c.String("drbd"); d != "8.4" && d != "9" {
		return nil, usagef("--drbd %q: want 8.4 or 9", d)
	}
	if os.Geteuid() != 0 {
		return nil, api.Errorf(api.CodeWrongState, "--vm-nodes needs root (network namespace, tap devices)")
	}
	for _, b := range []string{"qemu-system-x86_64", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			return nil, api.Errorf(api.CodeWrongState, "--vm-nodes needs %s (Debian packages qemu-system-x86, iproute2)", b)
		}
	}
	netPfx := c.String("vm-net")
	if netPfx == "" {
		netPfx = defaultVMNet(string(d))
	}
	vn, err := newVMNet(string(d), netPfx)
	if err != nil {
		return nil, err
	}
	return &vmCluster{dir: d, n: n, drbd: c.String("drbd"), mem: c.Int("vm-memory"), diskMiB: c.Int("vm-disk"), net: vn,
		kit: c.String("vm-kit"), agent: c.String("agent-binary"), diskFaults: c.Bool("vm-disk-faults"),
		log: slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelInfo}))}, nil
}

func (v *vmCluster) vmDir(parts ...string) string {
	return filepath.Join(append([]string{string(v.dir), "vm"}, parts...)...)
}

// netFile records the link so that local down can remove it.
func (v *vmCluster) saveNet() error {
	b, _ := json.Marshal(v.net)
	if err := os.MkdirAll(v.vmDir(), 0o755); err != nil {
		return err
	}
	return os.WriteFile(v.vmDir("net.json"), b, 0o644)
}

// vmNetDown removes the link a local up with --vm-nodes made in d.
func vmNetDown(d localDir) {
	b, err := os.ReadFile(filepath.Join(string(d), "vm", "net.json"))
	if err != nil {
		return
	}
	var n vmNet
	if json.Unmarshal(b, &n) == nil && n.NS != "" {
		n.down()
	}
}

// kernel finds the kit, or downloads Debian's kernel package.
func (v *vmCluster) kernel(ctx context.Context) (vmnode.Kernel, error) {
	if v.kit != "" {
		dir := v.kit
		if m, _ := filepath.Glob(filepath.Join(dir, "kit-*")); len(m) > 0 {
			dir = m[0]
		}
		return vmnode.FindKit(dir)
	}
	cache := filepath.Join(string(v.dir), "cache")
	if base, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(base, "drover", "vm")
	}
	return vmnode.DownloadKernel(ctx, cache, v.log)
}

// agentBinary is a static drover for the guests.
func (v *vmCluster) agentBinary(ctx context.Context, self string) (string, error) {
	if v.agent != "" {
		return v.agent, nil
	}
	if st, err := vmnode.IsStatic(self); err == nil && st {
		return self, nil
	}
	root := moduleRoot()
	if root == "" {
		return "", api.Errorf(api.CodeWrongState, "%s is not a static binary and no drover source tree is here to build one: pass --agent-binary (CGO_ENABLED=0 go build ./cmd/drover)", self)
	}
	out := v.vmDir("drover-agent")
	fmt.Fprintf(os.Stderr, "Building a static agent for the guests (CGO_ENABLED=0 go build in %s)\n", root)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/drover")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build a static agent: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// moduleRoot is the drover source tree around the working directory ("" if none).
func moduleRoot() string {
	d, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			if strings.HasPrefix(string(b), "module github.com/drover-project/drover\n") {
				return d
			}
			return ""
		}
		p := filepath.Dir(d)
		if p == d {
			return ""
		}
		d = p
	}
}

// build makes the guests' kernel and common initramfs.
func (v *vmCluster) build(ctx context.Context, self string, out io.Writer) (*vmnode.Image, error) {
	k, err := v.kernel(ctx)
	if err != nil {
		return nil, err
	}
	agent, err := v.agentBinary(ctx, self)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	img, err := vmnode.Build(ctx, vmnode.ImageOptions{Kernel: k, DRBD: v.drbd, Agent: agent, Out: v.vmDir("initramfs.cpio")})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "Node image: kernel %s (%s), DRBD %s, modules %s (built in %.1f s)\n", k.Version, k.Source, v.drbd,
		strings.Join(img.Modules, " "), time.Since(t0).Seconds())
	if len(img.NoDiskFaults) > 0 && v.diskFaults {
		fmt.Fprintf(out, "Node image: kernel %s has no %s: local fault --slow-disk/--fail-disk cannot use them\n", k.Version, strings.Join(img.NoDiskFaults, ", "))
	}
	return img, nil
}

// startGuests registers each node, writes its initramfs and disk, and boots
// it on the namespace's bridge.
func (v *vmCluster) startGuests(ctx context.Context, cl *api.Client, img *vmnode.Image, self string, out io.Writer) error {
	for i := 1; i <= v.n; i++ {
		name := fmt.Sprintf("node%d", i)
		nd := v.vmDir(name)
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return err
		}
		credFile := filepath.Join(string(v.dir), "nodes", name+".json")
		if err := ensureNode(ctx, cl, name, v.net.nodeIP(i), credFile); err != nil {
			return fmt.Errorf("add %s: %w", name, err)
		}
		cred, err := os.ReadFile(credFile)
		if err != nil {
			return err
		}
		initrd := filepath.Join(nd, "initramfs.cpio")
		if err := vmnode.WriteNodeInitrd(img.Initrd, initrd, vmnode.NodeFiles{Name: name, IP: v.net.nodeIP(i), Prefix: 24, Credentials: cred, DiskFaults: v.diskFaults}); err != nil {
			return err
		}
		disk := filepath.Join(nd, "disk.img")
		if _, err := os.Stat(disk); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(disk, nil, 0o600); err != nil {
				return err
			}
			if err := os.Truncate(disk, int64(v.diskMiB)<<20); err != nil {
				return err
			}
		}
		s := procSpec{Name: name, Kind: "vm", Exe: "ip", Args: []string{"netns", "exec", v.net.NS,
			"qemu-system-x86_64", "-name", name, "-accel", "tcg,tb-size=64", "-m", fmt.Sprint(v.mem), "-smp", "1",
			"-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
			"-chardev", "file,id=con,append=on,path=" + filepath.Join(nd, "console.log"), "-serial", "chardev:con",
			"-kernel", img.Kernel.Vmlinuz, "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1 no_timer_check",
			"-drive", "file=" + disk + ",format=raw,if=virtio",
			"-netdev", "tap,id=n0,ifname=" + v.net.tap(i) + ",script=no,downscript=no",
			"-device", fmt.Sprintf("virtio-net-pci,netdev=n0,mac=52:54:00:d7:%02x:%02x", i>>8&0xff, i&0xff)}}
		if err := v.dir.saveSpec(s); err != nil {
			return err
		}
		cmd, err := v.dir.start(self, s)
		if err != nil {
			return err
		}
		reap([]*exec.Cmd{cmd})
		fmt.Fprintf(out, "Started node guest %s at %s (pid %d, console %s)\n", name, v.net.nodeIP(i), cmd.Process.Pid, filepath.Join(nd, "console.log"))
	}
	return nil
}

// waitOnline waits until every guest's node is online and says how long
// each took.
func (v *vmCluster) waitOnline(ctx context.Context, cl *api.Client, t0 time.Time, out io.Writer) error {
	seen := map[string]bool{}
	for len(seen) < v.n {
		nodes, err := cl.ListNodes(ctx, api.NodeQuery{})
		if err == nil {
			for _, n := range nodes {
				if n.Status == api.NodeOnline && !seen[n.Name] {
					seen[n.Name] = true
					fmt.Fprintf(out, "Node %s online after %.1f s\n", n.Name, time.Since(t0).Seconds())
				}
			}
		}
		for i := 1; i <= v.n; i++ {
			name := fmt.Sprintf("node%d", i)
			if _, ok := v.dir.alive(name); !ok && !seen[name] {
				lb, _ := os.ReadFile(v.dir.logFile(name))
				return fmt.Errorf("node guest %s exited before it came online (QEMU: %q); its console:\n%s", name,
					strings.TrimSpace(string(lb)), consoleTail(v.vmDir(name, "console.log"), 20))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d node guests online (consoles in %s): %w", len(seen), v.n, v.vmDir(), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// consoleTail is the end of a guest's console, for error messages.
func consoleTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

// up brings the guests' link up with the masters' addresses of cd.
func (v *vmCluster) up(cd *master.ClusterDir) error {
	for _, m := range cd.Cluster.Masters {
		if !strings.HasPrefix(m.IP, v.net.Net+".") {
			return api.Errorf(api.CodeWrongState, "cluster directory %s has master %s on %s, not on the guests' link %s.0/24 (use a new --dir, or --vm-net %s)",
				v.dir, m.Name, m.IP, v.net.Net, m.IP[:strings.LastIndexByte(m.IP, '.')])
		}
	}
	if err := v.saveNet(); err != nil {
		return err
	}
	return v.net.up(len(cd.Cluster.Masters), v.n)
}
