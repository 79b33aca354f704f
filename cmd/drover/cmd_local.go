package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/libvirtd"
)

func localCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Required: true, Usage: "directory of the local cluster"}
	return &cli.Command{
		Name:  "local",
		Usage: "a whole cluster on this machine: masters and agents as processes on 127.0.x.y",
		Subcommands: []*cli.Command{
			{
				Name:  "up",
				Usage: "start (and on first use create) a local cluster; Ctrl-C stops it",
				Flags: append([]cli.Flag{
					dirFlag,
					&cli.IntFlag{Name: "nodes", Value: 3, Usage: "number of node agents"},
					&cli.IntFlag{Name: "sim-nodes", Usage: "also run this many simulated nodes sim1..simN: real agents with the fake hypervisor, all in one process (docs/scale.md)"},
					&cli.IntFlag{Name: "masters", Value: 1, Usage: "number of masters (1 or 3 for a quorum that survives a loss)"},
					&cli.StringFlag{Name: "master-net", Value: "127.0.1", Usage: "masters get MASTER-NET.1, .2, ..."},
					&cli.StringFlag{Name: "node-net", Value: "127.0.2", Usage: "nodes get NODE-NET.1, .2, ..."},
					&cli.IntFlag{Name: "api-port", Value: master.DefaultAPIPort},
					&cli.IntFlag{Name: "etcd-client-port", Value: master.DefaultClientPort},
					&cli.IntFlag{Name: "etcd-peer-port", Value: master.DefaultPeerPort},
					&cli.IntFlag{Name: "node-lease-ttl", Value: master.DefaultNodeLeaseTTL, Usage: "agents' lease TTL in seconds"},
					&cli.IntFlag{Name: "session-ttl", Usage: "masters' election session TTL in seconds (drover master --session-ttl; default 2)"},
					&cli.UintFlag{Name: "etcd-tick-ms", Usage: "embedded etcd heartbeat interval of every master (drover master --etcd-tick-ms; default 100)"},
					&cli.UintFlag{Name: "etcd-election-ms", Usage: "embedded etcd election timeout of every master (drover master --etcd-election-ms; default 500)"},
					&cli.DurationFlag{Name: "etcd-compaction-retention", Usage: "embedded etcd compaction retention of every master (drover master --etcd-compaction-retention; default 1h)"},
					&cli.StringFlag{Name: "hypervisor", Value: "fake", Usage: "hypervisor of the nodes: fake (in-process), or test, kvm, lxc through one private libvirtd per node (root)"},
					&cli.DurationFlag{Name: "timeout", Value: 90 * time.Second, Usage: "give up when the cluster is not up by then"},
					rapiAnonymousReadsFlag(),
				}, vmFlags()...),
				Action: localUp,
			},
			{
				Name:   "down",
				Usage:  "stop a local cluster started with local up",
				Flags:  []cli.Flag{dirFlag},
				Action: localDown,
			},
			{
				Name:      "start",
				Usage:     "start again one process of a local cluster (after a crash or kill)",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("local start needs a process name (m1, node1, ...)")
					}
					d := localDir(absPath(c.String("dir")))
					s, err := d.loadSpec(c.Args().First())
					if err != nil {
						return err
					}
					self, err := os.Executable()
					if err != nil {
						return err
					}
					cmd, err := d.start(self, s)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "%s started (pid %d)\n", s.Name, cmd.Process.Pid)
					return cmd.Process.Release()
				},
			},
			localFaultCommand(dirFlag),
			localChassisCommand(dirFlag),
			{
				Name:  "status",
				Usage: "show the processes of a local cluster",
				Flags: []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					d := localDir(absPath(c.String("dir")))
					specs, err := d.specs()
					if err != nil {
						return err
					}
					for _, s := range specs {
						pid, ok := d.alive(s.Name)
						st := "stopped"
						if ok {
							st = fmt.Sprintf("running (pid %d)", pid)
						}
						fmt.Fprintf(c.App.Writer, "%s\t%s\t%s\n", s.Name, s.Kind, st)
					}
					return nil
				},
			},
		},
	}
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func localUp(c *cli.Context) error {
	nm, nn := c.Int("masters"), c.Int("nodes")
	if nm < 1 || nm > 7 || nn < 0 || nn > 250 || c.Int("sim-nodes") < 0 || c.Int("sim-nodes") > maxSimNodes {
		return usagef("--masters must be 1..7, --nodes 0..250 and --sim-nodes 0..%d", maxSimNodes)
	}
	hvKind := c.String("hypervisor")
	switch hvKind {
	case "fake":
	case "test", "kvm", "lxc":
		if err := libvirtd.Check(); err != nil {
			return api.Errorf(api.CodeWrongState, "local up --hypervisor %s starts a private libvirtd per node, which is not possible here: %v", hvKind, err)
		}
	case "xen", "openvz":
		return usagef("--hypervisor %s: a local cluster cannot simulate %s nodes (they need a %s host kernel); use test, kvm, lxc or fake", hvKind, hvKind, hvKind)
	default:
		return usagef("--hypervisor %q: want fake, test, kvm or lxc", hvKind)
	}
	d := localDir(absPath(c.String("dir")))
	if pid, err := readPid(d.supervisorPid()); err == nil && processAlive(pid) {
		return api.Errorf(api.CodeWrongState, "a local cluster already runs in %s (pid %d); drover local down --dir %s", d, pid, d)
	}
	vms, err := vmClusterFrom(c, d)
	if err != nil {
		return err
	}
	masterNet, leaseTTL := c.String("master-net"), c.Int("node-lease-ttl")
	if vms != nil {
		// Masters listen on the host end of the guests' link; TCG guests
		// get a longer lease.
		nn, masterNet = 0, vms.net.Net
		if !c.IsSet("node-lease-ttl") {
			leaseTTL = 10
		}
	}
	for _, sub := range []string{"run", "log", "nodes"} {
		if err := os.MkdirAll(filepath.Join(string(d), sub), 0o755); err != nil {
			return err
		}
	}
	out := c.App.ErrWriter
	if _, err := os.Stat(filepath.Join(string(d), "cluster.json")); errors.Is(err, os.ErrNotExist) {
		var ms []keys.MasterSpec
		for i := 1; i <= nm; i++ {
			ms = append(ms, keys.MasterSpec{Name: fmt.Sprintf("m%d", i), IP: fmt.Sprintf("%s.%d", masterNet, i),
				APIPort: c.Int("api-port"), ClientPort: c.Int("etcd-client-port"), PeerPort: c.Int("etcd-peer-port")})
		}
		if err := master.InitClusterDir(string(d), master.InitOptions{Name: "local", Masters: ms, NodeLeaseTTL: leaseTTL}); err != nil {
			return err
		}
		fmt.Fprintf(out, "Created cluster directory %s\n", d)
	}
	cd, err := master.LoadClusterDir(string(d))
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.supervisorPid(), fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return err
	}
	defer os.Remove(d.supervisorPid())
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	// Deferred calls run last first: agents and masters stop, then the
	// nodes' libvirtds.
	var daemons []*libvirtd.Daemon
	defer func() { stopDaemons(out, daemons) }()
	defer func() {
		fmt.Fprintln(out, "Stopping the local cluster")
		_ = d.stopAll(10 * time.Second)
	}()

	if vms != nil {
		if err := vms.up(cd); err != nil {
			return err
		}
		defer vms.net.down()
	}
	var children []*exec.Cmd
	for _, m := range cd.Cluster.Masters {
		s := procSpec{Name: m.Name, Kind: "master", Args: []string{"master", "--dir", string(d), "--name", m.Name}}
		if c.Bool("rapi-anonymous-reads") {
			s.Args = append(s.Args, "--rapi-anonymous-reads")
		}
		if c.IsSet("session-ttl") {
			s.Args = append(s.Args, "--session-ttl", strconv.Itoa(c.Int("session-ttl")))
		}
		s.Args = append(s.Args, masterEtcdArgs(c)...)
		if err := d.saveSpec(s); err != nil {
			return err
		}
		cmd, err := d.start(self, s)
		if err != nil {
			return err
		}
		children = append(children, cmd)
		fmt.Fprintf(out, "Started master %s on %s (pid %d)\n", m.Name, m.IP, cmd.Process.Pid)
	}
	reap(children)

	token, _, err := cd.AdminToken()
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(cd.CAFile())
	if err != nil {
		return err
	}
	cl, err := api.NewClient(cd.APIURLs(), token, caPEM)
	if err != nil {
		return err
	}
	upCtx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
	defer cancel()
	if err := waitLeader(upCtx, cl); err != nil {
		return fmt.Errorf("masters did not come up (logs in %s): %w", filepath.Join(string(d), "log"), err)
	}
	var uris []string
	if hvKind != "fake" {
		var err error
		daemons, uris, err = startNodeDaemons(upCtx, string(d), c.String("node-net"), nn, hvKind)
		if err != nil {
			return err
		}
	}
	if vms != nil {
		t0 := time.Now()
		img, err := vms.build(upCtx, self, out)
		if err != nil {
			return err
		}
		if err := vms.startGuests(upCtx, cl, img, self, out); err != nil {
			return err
		}
		if err := vms.startBMCs(upCtx, cl, self, out); err != nil {
			return err
		}
		if err := vms.waitOnline(upCtx, cl, t0, out); err != nil {
			return err
		}
	}
	var uriNotes strings.Builder
	for i := 1; i <= nn; i++ {
		name := fmt.Sprintf("node%d", i)
		credFile := filepath.Join(string(d), "nodes", name+".json")
		if err := ensureNode(upCtx, cl, name, fmt.Sprintf("%s.%d", c.String("node-net"), i), credFile); err != nil {
			return fmt.Errorf("add %s: %w", name, err)
		}
		la := localAgent{CredFile: credFile, Hypervisor: hvKind, StorageDir: filepath.Join(string(d), "storage", name),
			MetricsListen: fmt.Sprintf("%s.%d:%d", c.String("node-net"), i, agentMetricsPort)}
		if hvKind != "fake" {
			la.LibvirtURI, la.GuestPidDirs = uris[i-1], daemons[i-1].GuestPidDirs()
			if hvKind == "kvm" {
				la.MigrationURI, la.MigrationAddress = daemons[i-1].TCPURI("qemu"), fmt.Sprintf("%s.%d", c.String("node-net"), i)
			}
			fmt.Fprintf(&uriNotes, "# %s: virsh -c '%s'\n", name, uris[i-1])
		}
		args := la.args()
		s := procSpec{Name: name, Kind: "agent", Args: args}
		if err := d.saveSpec(s); err != nil {
			return err
		}
		cmd, err := d.start(self, s)
		if err != nil {
			return err
		}
		reap([]*exec.Cmd{cmd})
		fmt.Fprintf(out, "Started agent %s (pid %d)\n", name, cmd.Process.Pid)
	}
	if n := c.Int("sim-nodes"); n > 0 {
		// Registering takes 0.1-0.5 s a node: more than --timeout alone.
		sctx, cancel := context.WithTimeout(ctx, c.Duration("timeout")+time.Duration(n)*500*time.Millisecond)
		defer cancel()
		if err := startSimNodes(sctx, cl, d, self, n, out); err != nil {
			return err
		}
	}
	env := fmt.Sprintf("export DROVER_API=%s\nexport DROVER_TOKEN=%s\nexport DROVER_CA=%s\n%s",
		strings.Join(cd.APIURLs(), ","), token, cd.CAFile(), uriNotes.String())
	if uriNotes.Len() > 0 {
		fmt.Fprint(out, uriNotes.String())
	}
	// Written whole and then renamed: scripts and tests wait for the file
	// and read it at once (os.WriteFile would let them see it empty).
	envFile := filepath.Join(string(d), "drover.env")
	if err := os.WriteFile(envFile+".tmp", []byte(env), 0o600); err != nil {
		return err
	}
	if err := os.Rename(envFile+".tmp", envFile); err != nil {
		return err
	}
	fmt.Fprintf(out, "Local cluster up: %d masters, %d nodes (+%d simulated). In another shell: . %s; drover node list\nCtrl-C (or drover local down --dir %s) stops it.\n", nm, nn, c.Int("sim-nodes"), envFile, d)
	<-ctx.Done()
	return nil
}

// reap collects children that exit, so they do not linger as zombies.
func reap(cmds []*exec.Cmd) {
	for _, cmd := range cmds {
		go func() { _ = cmd.Wait() }()
	}
}

func waitLeader(ctx context.Context, cl *api.Client) error {
	var last error
	for {
		ci, err := cl.ClusterInfo(ctx)
		if err == nil && ci.Leader != "" {
			return nil
		}
		if err == nil {
			err = errors.New("no leader yet")
		}
		last = err
		select {
		case <-ctx.Done():
			return last
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// ensureNode adds the node if it is not registered and writes its credentials
// when the file is missing.
func ensureNode(ctx context.Context, cl *api.Client, name, ip, credFile string) error {
	if _, err := cl.GetNode(ctx, name); api.CodeOf(err) == api.CodeUnknownEntity {
		id, err := cl.AddNode(ctx, api.NodeAdd{Name: name, PrimaryIP: ip, SecondaryIP: ip})
		if err != nil {
			return err
		}
		j, err := cl.WaitForJob(ctx, id, nil)
		if err != nil {
			return err
		}
		if j.State != api.JobSuccess {
			if j.Error != nil {
				return j.Error
			}
			return fmt.Errorf("node add job %d ended %s", id, j.State)
		}
	} else if err != nil {
		return err
	}
	if _, err := os.Stat(credFile); err == nil {
		return nil
	}
	cred, err := cl.NodeCredentials(ctx, name)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(cred, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(credFile, b, 0o600)
}

func localDown(c *cli.Context) error {
	d := localDir(absPath(c.String("dir")))
	// The guests' pid files can be read only while the daemons run.
	var guests []int
	for _, dd := range clusterDaemonDirs(string(d)) {
		guests = append(guests, daemonGuestPIDs(dd)...)
	}
	if pid, err := readPid(d.supervisorPid()); err == nil && processAlive(pid) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(60 * time.Second)
		for processAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := d.stopAll(10 * time.Second); err != nil {
		return err
	}
	vmNetDown(d)
	if left := killGuests(append(guests, storageGuestPIDs(string(d))...), 10*time.Second); len(left) > 0 {
		return fmt.Errorf("local down: guest processes %v still run", left)
	}
	fmt.Fprintf(c.App.Writer, "Local cluster in %s stopped\n", d)
	return nil
}

// masterEtcdArgs passes local up's etcd timing and compaction flags, those
// that are set, on to every master.
func masterEtcdArgs(c *cli.Context) []string {
	var args []string
	for _, f := range []string{"etcd-tick-ms", "etcd-election-ms"} {
		if c.IsSet(f) {
			args = append(args, "--"+f, strconv.FormatUint(uint64(c.Uint(f)), 10))
		}
	}
	if c.IsSet("etcd-compaction-retention") {
		args = append(args, "--etcd-compaction-retention", c.Duration("etcd-compaction-retention").String())
	}
	return args
}
