package main

// `drover local up --vm-nodes 2`: two QEMU/TCG node guests with real DRBD
// (8.4 from Debian's kernel; 9 from the lab kit) and LVM, agents inside.
// The harness is here; the flow the tests drive (instance add -t drbd,
// failover, grow-disk, a secondary killed and back, a primary cut off) is in
// local_vm_drbd_test.go.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/vmnode"
)

// labKit finds the lab kit (kit-KVER with drbd9/): $DROVER_VM_KIT, or
// ../shared/lab beside the checkout, or /work/shared/lab.
func labKit() string {
	if k := os.Getenv("DROVER_VM_KIT"); k != "" {
		return k
	}
	cands := []string{"/work/shared/lab"}
	if root := moduleRoot(); root != "" {
		cands = append([]string{filepath.Join(root, "..", "shared", "lab")}, cands...)
	}
	for _, c := range cands {
		if m, _ := filepath.Glob(filepath.Join(c, "kit-*", "vmlinuz")); len(m) > 0 {
			return filepath.Dir(m[0])
		}
	}
	return ""
}

func needVMNodes(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		hvtest.SkipOrFail(t, "node guests need root (network namespace, tap devices)")
	}
	hvtest.NeedBinaries(t, "qemu-system-x86_64", "ip", "drbdadm", "lvm", "busybox")
}

// staticDrover is a static drover for the guests: the binary under test
// when it is static, else one built here.
func staticDrover(t *testing.T) string {
	if st, err := vmnode.IsStatic(droverBin); err == nil && st {
		return droverBin
	}
	out := filepath.Join(t.TempDir(), "drover-static")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build static drover: %v\n%s", err, b)
	}
	return out
}

type vmLab struct {
	*localCluster
	cli   *clientv3.Client
	epoch int64
	seq   int
}

func startVMLab(t *testing.T, drbdVersion, kit string) *vmLab {
	return startVMLabN(t, drbdVersion, kit, 2)
}

// startVMLabN starts n node guests (node1..nodeN).
func startVMLabN(t *testing.T, drbdVersion, kit string, n int, extra ...string) *vmLab {
	dir := hvtest.ShortTempDir(t)
	var b [1]byte
	_, _ = rand.Read(b[:])
	args := []string{"local", "up", "--dir", dir, "--vm-nodes", strconv.Itoa(n), "--drbd", drbdVersion,
		"--vm-net", fmt.Sprintf("198.18.%d", 1+int(b[0])%250), "--agent-binary", staticDrover(t), "--timeout", fmt.Sprintf("%ds", 150*n)}
	if kit != "" {
		args = append(args, "--vm-kit", kit)
	}
	cmd := exec.Command(droverBin, append(args, extra...)...)
	// local up's output goes to a file: the test reads it while local up
	// still writes (a shared buffer would race).
	upLog := filepath.Join(dir, "local-up.out")
	f, err := os.Create(upLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	upOut := func() string { b, _ := os.ReadFile(upLog); return string(b) }
	// local up keeps running while the cluster is up; exited tells the wait
	// below when it stopped early (ProcessState is only set by Wait).
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	lc := &localCluster{t: t, dir: dir, up: cmd, log: &syncBuffer{}, exited: exited}
	vn, _ := newVMNet(dir, "198.18.1") // the namespace name depends on dir only
	t.Cleanup(func() {
		// local down removed the guests' namespace and veth.
		if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), vn.NS) {
			t.Errorf("namespace %s still there after local down", vn.NS)
		}
		if out, _ := exec.Command("pgrep", "-f", "qemu-system-x86_64 -name node1 .*"+dir).Output(); len(out) > 0 {
			t.Errorf("a guest of %s still runs after local down: %s", dir, out)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			for i := 1; i <= n; i++ {
				node := fmt.Sprintf("node%d", i)
				t.Logf("console of %s:\n%s", node, consoleTail(filepath.Join(dir, "vm", node, "console.log"), 60))
			}
			t.Logf("local up output:\n%s", upOut())
		}
		lc.down()
	})
	start := time.Now()
	waitFor(t, time.Duration(150*n+30)*time.Second, "local up with node guests", func() bool {
		select {
		case <-exited:
			t.Fatalf("local up exited:\n%s", upOut())
		default:
		}
		b, err := os.ReadFile(filepath.Join(dir, "drover.env"))
		if err == nil {
			lc.env = parseEnvFile(b)
		}
		return err == nil
	})
	t.Logf("local up with %d node guests (DRBD %s): %.1f s\n%s", n, drbdVersion, time.Since(start).Seconds(), upOut())
	return &vmLab{localCluster: lc, cli: rootEtcd(t, dir)}
}

func rootEtcd(t *testing.T, dir string) *clientv3.Client {
	cd, err := master.LoadClusterDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := master.RootClient(cd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// leaderEpoch is the create revision of the leader's election key.
func (l *vmLab) leaderEpoch() int64 {
	resp, err := l.cli.Get(ctx30(l.t), keys.ElectionPrefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil || len(resp.Kvs) == 0 {
		l.t.Fatalf("leader epoch: %v (%d keys)", err, len(resp.Kvs))
	}
	return resp.Kvs[0].CreateRevision
}

// command writes a node command as the leader would and waits for its result.
func (l *vmLab) command(node, kind string, inst keys.InstanceRecord, params any, limit time.Duration) keys.NodeCommandResult {
	l.t.Helper()
	res := l.tryCommand(node, kind, inst, params, limit)
	if res.Error != nil {
		l.t.Fatalf("%s on %s: %v", kind, node, res.Error)
	}
	return res
}

// tryCommand is command that returns a failed result instead of failing.
func (l *vmLab) tryCommand(node, kind string, inst keys.InstanceRecord, params any, limit time.Duration) keys.NodeCommandResult {
	l.t.Helper()
	l.seq++
	raw, _ := json.Marshal(params)
	c := keys.NodeCommand{ID: fmt.Sprintf("t%d-%s", l.seq, strings.ReplaceAll(kind, ".", "-")), Epoch: l.leaderEpoch(), Kind: kind,
		Instance: inst, Params: raw, CreatedAt: time.Now().UTC()}
	b, _ := json.Marshal(c)
	if _, err := l.cli.Put(ctx30(l.t), keys.NodeCommandKey(node, c.ID), string(b)); err != nil {
		l.t.Fatal(err)
	}
	var res keys.NodeCommandResult
	waitFor(l.t, limit, kind+" on "+node, func() bool {
		r, err := l.cli.Get(ctx30(l.t), keys.NodeResultKey(node, c.ID))
		if err != nil || len(r.Kvs) == 0 {
			return false
		}
		return json.Unmarshal(r.Kvs[0].Value, &res) == nil && res.Done
	})
	return res
}

// drbdState reads the DRBD state node's agent published.
func (l *vmLab) drbdState(node, res string) (keys.DRBDResource, bool) {
	r, err := l.cli.Get(ctx30(l.t), keys.NodeDRBDKey(node))
	if err != nil || len(r.Kvs) == 0 {
		return keys.DRBDResource{}, false
	}
	var st keys.DRBDState
	if json.Unmarshal(r.Kvs[0].Value, &st) != nil {
		return keys.DRBDResource{}, false
	}
	for _, x := range st.Resources {
		if x.Name == res {
			return x, true
		}
	}
	return keys.DRBDResource{}, false
}

func synced(r keys.DRBDResource, role string) bool {
	return r.Role == role && r.Disk == "UpToDate" && len(r.Peers) == 1 && r.Peers[0].PeerDisk == "UpToDate" &&
		r.Peers[0].Connection == "Connected" && r.Peers[0].SyncPercent == 100
}

var ackRE = regexp.MustCompile(`(?m)^ack (\d+)`)

func TestVMNodesDRBD84(t *testing.T) {
	needVMNodes(t)
	runVMDRBD(t, "8.4", labKit())
}

func TestVMNodesDRBD9(t *testing.T) {
	needVMNodes(t)
	kit := labKit()
	if kit == "" {
		// DRBD 9 is not in Debian's kernel: only the lab kit has it.
		realtest.Optional(t, "DRBD 9: no lab kit (kit-KVER with drbd9/; set DROVER_VM_KIT)")
	}
	runVMDRBD(t, "9", kit)
}

// runOnSecondary promotes node's side of inst's disk (not forced), starts
// the workload there and checks that its copy holds every record up to the
// last acknowledgement the host saw, intact.
func (l *vmLab) runOnSecondary(inst keys.InstanceRecord, node, dev string, acked int) keys.InstanceRecord {
	t := l.t
	l.command(node, keys.CmdDiskPrimary, inst, keys.DiskParams{Disk: 0}, 60*time.Second)
	inst.PrimaryNode = node
	l.command(node, keys.CmdInstanceCreate, inst, nil, 60*time.Second)
	l.command(node, keys.CmdInstanceStart, inst, nil, 60*time.Second)
	var text string
	for deadline := time.Now().Add(120 * time.Second); !strings.Contains(text, "writing records to "+dev); {
		if time.Now().After(deadline) {
			st, _ := l.drbdState(node, "mirror1-d0")
			t.Fatalf("the workload on %s did not start writing in 120 s; DRBD there %+v; its console:\n%s", node, st, text)
		}
		time.Sleep(time.Second)
		text = l.console(node, inst)
	}
	m := regexp.MustCompile(`writing records to ` + regexp.QuoteMeta(dev) + ` from (\d+)`).FindStringSubmatch(text)
	from, _ := strconv.Atoi(m[1])
	if from <= acked || !strings.Contains(text, fmt.Sprintf("records up to %d intact", from-1)) {
		t.Fatalf("after failover the copy holds records up to %d, the host saw %d acknowledged:\n%s", from-1, acked, text)
	}
	t.Logf("failover to %s: the copy holds records 1..%d intact (%d acknowledged before the cut)", node, from-1, acked)
	return inst
}

// startMirror makes the drbd disk of instance mirror1 on node1 (primary)
// and node2 as the leader would, waits for the first sync, and runs the
// workload on node1's /dev/drbd0 until it acknowledged 20 records; it
// returns the instance and the last acknowledgement the host saw.
func (l *vmLab) startMirror(version string) (keys.InstanceRecord, int) {
	t := l.t
	var sec [12]byte
	_, _ = rand.Read(sec[:])
	ip := func(i int) string {
		out := l.mustCLI("node", "info", fmt.Sprintf("node%d", i))
		m := regexp.MustCompile(`Secondary IP: (\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no secondary IP in %s", out)
		}
		return m[1]
	}
	inst := keys.InstanceRecord{Name: "mirror1", UUID: "7d7c1a8e-0f4e-4c52-9b39-3b9a8f6f1a01", PrimaryNode: "node1",
		Hypervisor: "workload", DiskTemplate: "drbd", VCPUs: 1, MemoryMiB: 32, AdminUp: true,
		Disks: []keys.DiskSpec{{SizeMiB: 64, DRBD: &keys.DRBDDisk{Resource: "mirror1-d0", Port: 11000, Secret: hex.EncodeToString(sec[:]),
			Nodes: []keys.DRBDNode{{Node: "node1", IP: ip(1), Minor: 0, NodeID: 0}, {Node: "node2", IP: ip(2), Minor: 1, NodeID: 1}}}}}}
	t0 := time.Now()
	l.command("node2", keys.CmdDiskCreate, inst, keys.DiskParams{Disk: 0}, 90*time.Second)
	l.command("node1", keys.CmdDiskCreate, inst, keys.DiskParams{Disk: 0, Primary: true, InitialSync: true}, 90*time.Second)
	created := time.Since(t0)
	var p, s keys.DRBDResource
	waitFor(t, 120*time.Second, "first sync seen in the published events2 state", func() bool {
		p, _ = l.drbdState("node1", "mirror1-d0")
		s, _ = l.drbdState("node2", "mirror1-d0")
		return synced(p, "Primary") && synced(s, "Secondary")
	})
	t.Logf("DRBD %s: disk.create on both nodes %.1f s; first sync of 64 MiB done %.1f s after the first command; primary %+v; secondary %+v",
		version, created.Seconds(), time.Since(t0).Seconds(), p, s)
	if p.Minor != 0 || s.Minor != 1 || p.SizeKiB < 60<<10 {
		t.Errorf("minors or size: primary %+v, secondary %+v", p, s)
	}
	if info := l.mustCLI("node", "info", "node1"); !strings.Contains(info, "mirror1-d0: minor 0, Primary, disk UpToDate") ||
		!regexp.MustCompile(`peer \S+: Connected, Secondary, disk UpToDate, Established, 100.0% in sync`).MatchString(info) {
		t.Errorf("node info node1 does not show the resource:\n%s", info)
	}
	// The workload writes to the primary's DRBD device.
	l.command("node1", keys.CmdInstanceCreate, inst, nil, 60*time.Second)
	l.command("node1", keys.CmdInstanceStart, inst, nil, 60*time.Second)
	var acked int
	waitFor(t, 90*time.Second, "acknowledged records of the workload", func() bool {
		if !strings.Contains(l.console("node1", inst), "writing records to /dev/drbd0") {
			return false
		}
		acked = l.lastAck("node1", inst)
		return acked >= 20
	})
	if st, ok := l.drbdState("node2", "mirror1-d0"); !ok || st.Role != "Secondary" || st.Peers[0].Role != "Primary" {
		t.Errorf("secondary while the workload writes: %+v", st)
	}
	acked = l.lastAck("node1", inst)
	t.Logf("workload on /dev/drbd0 of node1: %d records acknowledged (seen from the host)", acked)
	return inst, acked
}

// console is the end of instance's console on node, read through the agent.
func (l *vmLab) console(node string, inst keys.InstanceRecord) string {
	res := l.command(node, keys.CmdInstanceConsole, inst, keys.ConsoleParams{MaxBytes: 1 << 16}, 90*time.Second)
	var out keys.ConsoleOutput
	_ = json.Unmarshal(res.Output, &out)
	return out.Text
}

// lastAck is the last acknowledged record in the console.
func (l *vmLab) lastAck(node string, inst keys.InstanceRecord) int {
	m := ackRE.FindAllStringSubmatch(l.console(node, inst), -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}
